"""Batch evaluation with the real grader (packaged embedder, repo index) and the real `coach eval`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from coach.config import REPO_ROOT
from coach.evaluation.batch import grade_batch, guide_topics
from coach.evaluation.batch_file import read_batch_file
from coach.evaluation.report import write_report

pytestmark = pytest.mark.model

ROWS = [
    # question, answer, human_score, candidate, reference
    ("4", "Batch normalization normalizes each layer's inputs using the mean and variance of the mini-batch during "
          "training, keeps running averages of those statistics for inference, and learns a scale and shift. "
          "It makes training faster and more stable and allows higher learning rates.", 9.5, "ann", ""),
    ("4", "I don't know.", 0, "bob", ""),
    ("q09", "Overfitting is when the model memorises the training data, noise included, and does badly on new data. "
            "You avoid it with more data, regularization such as dropout or weight decay, early stopping and "
            "simpler models.", 9, "ann", ""),
    ("9", "Overfitting means the learning rate is too small so the model trains slowly.", 1, "bob", ""),
    ("What is a stack?", "A last-in first-out collection where push adds on top and pop removes the top item.", 5, "ann",
     "A stack is a LIFO data structure: push adds an element on top, pop removes the most recent one."),
    ("What is a stack?", "A kind of tree used for sorting numbers.", 0.5, "bob",
     "A stack is a LIFO data structure: push adds an element on top, pop removes the most recent one."),
]


def write_rows(path, bad_row: bool = True):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer", "human_score", "candidate", "reference"])
        writer.writerows(ROWS)
        if bad_row:
            writer.writerow(["4", "an answer with a bad score", "lots", "bob", ""])  # line 8
    return path


def test_real_grader_batch_report(real_coach, tmp_path):
    batch = read_batch_file(write_rows(tmp_path / "answers.csv"))
    assert [s.line for s in batch.skipped] == [8]
    out = tmp_path / "out"
    result = grade_batch(batch, real_coach.grader, out, topics=guide_topics(real_coach.index.units))
    assert len(result.items) == len(ROWS) and [s.line for s in result.skipped] == [8]
    scores = {(i.question, i.answer[:20]): i.score for i in result.items}
    by_line = {i.line: i for i in result.items}
    assert by_line[3].score == 0.0  # "I don't know."
    assert by_line[2].score > by_line[3].score and by_line[4].score > by_line[5].score, scores
    assert by_line[2].topic == "Training and Optimization" and by_line[6].topic == "(own reference)"
    assert by_line[6].question_id == "custom"

    report = write_report(result, out)
    for name in ("report.json", "report.html", "report.md", "items.csv", "score_histogram.png", "grader_vs_human.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["n"] == len(ROWS) and summary["n_skipped"] == 1
    for key in ("spearman", "pearson", "mae", "rmse", "qwk"):
        assert summary[key] is not None, key
    assert summary["spearman"] > 0  # the grader orders these obvious cases like the human
    assert report.data.per_candidate and {c["candidate"] for c in report.data.per_candidate} == {"ann", "bob"}
    assert "Spearman" in (out / "report.html").read_text() and "Per topic" in (out / "report.md").read_text()


def _coach(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "coach", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_coach_eval_command_writes_report_and_resumes(real_coach, tmp_path):
    source = write_rows(tmp_path / "answers.csv")
    out = tmp_path / "out"
    first = _coach("eval", str(source), "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr
    payload = json.loads(first.stdout)
    assert payload["summary"]["n"] == len(ROWS) and payload["skipped"][0]["line"] == 8
    assert payload["summary"]["pearson"] is not None
    assert "grading [" in first.stderr  # the progress bar goes to stderr, stdout stays JSON
    for kind in ("html", "md", "json", "csv", "histogram", "scatter"):
        assert os.path.isfile(payload["files"][kind]), kind
    second = _coach("eval", str(source), "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert f"graded {len(ROWS)} rows ({len(ROWS)} from an earlier run)" in second.stdout
    assert "skipped line 8" in second.stderr


def test_coach_eval_bad_file_is_one_line_not_a_traceback(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("question,reply\n4,hello\n", encoding="utf-8")
    result = _coach("eval", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "answer" in result.stderr and "Traceback" not in result.stderr
