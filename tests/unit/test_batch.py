"""Batch evaluation with a fake grader: reading bad files, resuming, reports, CSV and HTML safety."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coach.errors import InputError
from coach.evaluation.batch import RESULTS_FILE, grade_batch
from coach.evaluation.batch_file import read_batch_file
from coach.evaluation.report import neutralise_formula, write_report
from coach.grading.model import Grade, KeyPoint, KeyPointResult

TOPICS = {"q04": "Training and Optimization", "q09": "Training and Optimization", "q17": "Advanced Architectures"}


class FakeGrader:
    """Score = number of words (capped at 10); records every call; question 31 does not exist."""

    def __init__(self):
        self.calls: list[tuple] = []
        self._lock = threading.Lock()

    def grade(self, question, answer, reference=None, feedback="template") -> Grade:
        with self._lock:
            self.calls.append((question, answer, reference, feedback))
        if question == 31:
            raise InputError("There is no question 31 in the guide.")
        score = float(min(10, len(answer.split())))
        number = question if isinstance(question, int) else None
        point = KeyPoint("normalises activations", "q04", "Batch normalization normalises...")
        return Grade(
            question=number, question_id=f"q{number:02d}" if number else "custom",
            question_text=f"Question {question}", score=score, verdict="good" if score >= 5 else "weak",
            key_points=(KeyPointResult(point, score >= 5, answer[:20] if score >= 5 else "", 0.8),),
            feedback="fake", citations=("q04",), model_answer="model",
        )


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# --- reading -----------------------------------------------------------------------------

def test_missing_required_column_is_a_clear_error(tmp_path):
    path = write(tmp_path / "a.csv", "question,response\n4,some text\n")
    with pytest.raises(InputError, match="missing the required column.*answer"):
        read_batch_file(path)


def test_empty_file_and_header_only_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_batch_file(write(tmp_path / "empty.csv", ""))
    with pytest.raises(InputError, match="empty"):
        read_batch_file(write(tmp_path / "blank.jsonl", "\n\n"))
    with pytest.raises(InputError, match="no rows"):
        read_batch_file(write(tmp_path / "header.csv", "question,answer\n"))


def test_missing_file_and_size_limit(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_batch_file(tmp_path / "nope.csv")
    path = write(tmp_path / "big.csv", "question,answer\n" + "4,word word word\n" * 1000)
    with pytest.raises(InputError, match=r"limit is .*Split it"):
        read_batch_file(path, max_bytes=1000)


def test_bad_csv_rows_are_skipped_with_their_line_numbers(tmp_path):
    text = (
        b"question,answer,human_score,id\n"          # line 1
        b"4,\"fine answer\",7,a\n"                    # line 2: good
        b"9,\"two\nline answer\",abc,b\n"             # lines 3-4: non-numeric score
        b"17,short row\n"                              # line 5: missing columns
        b"9,\"bad \xff byte\",5,c\n"                  # line 6: not UTF-8
        b"\n"                                          # line 7: blank, ignored
        b"4,\"score too big\",11,d\n"                 # line 8: out of range
        b"4,\"again\",5,a\n"                          # line 9: duplicate id
        b"4,#NAME?,5,e\n"                              # line 10: spreadsheet damage
        b"9,\"multi\nline\nok\",3,f\n"                # lines 11-13: good
    )
    batch = read_batch_file(write(tmp_path / "bad.csv", text))
    assert [(r.line, r.id) for r in batch.rows] == [(2, "a"), (11, "f")]
    reasons = {s.line: s.reason for s in batch.skipped}
    assert set(reasons) == {3, 5, 6, 8, 9, 10}
    assert "not a number" in reasons[3]
    assert "columns" in reasons[5]
    assert "UTF-8" in reasons[6]
    assert "outside 0-10" in reasons[8]
    assert "duplicate id 'a'" in reasons[9] and "line 2" in reasons[9]
    assert "#NAME?" in reasons[10]


def test_csv_details_bom_semicolons_case_and_empty_answer(tmp_path):
    path = write(tmp_path / "excel.csv", "\ufeffQuestion;Answer;Human_Score\nq04;\"normalises, per batch\";6,5\n9;;\n")
    batch = read_batch_file(path)
    assert [(r.question, r.answer, r.human_score) for r in batch.rows] == [("q04", "normalises, per batch", 6.5), (9, "", None)]


def test_jsonl_rows_and_their_problems(tmp_path):
    lines = [
        json.dumps({"question": 4, "answer": "ok", "human_score": 5, "id": 1}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"question": 4}),
        json.dumps({"question": "What is dropout?", "answer": "x", "reference": "Dropout zeroes units.", "human_score": "2.5"}),
        json.dumps({"question": 4, "answer": 12}),
    ]
    batch = read_batch_file(write(tmp_path / "rows.jsonl", "\n".join(lines) + "\n"))
    assert [(r.line, r.question, r.id) for r in batch.rows] == [(1, 4, "1"), (5, "What is dropout?", None)]
    assert batch.rows[1].reference == "Dropout zeroes units." and batch.rows[1].human_score == 2.5
    assert {s.line: s.reason.split(" (")[0] for s in batch.skipped} == {
        2: "is not valid JSON", 3: "is not a JSON object", 4: "has no answer field", 6: "answer must be text"}


def test_human_scale_five(tmp_path):
    path = write(tmp_path / "m.csv", "question,answer,human_score\nx,y,4.5\nx,z,5.5\n")
    batch = read_batch_file(path, human_scale=5)
    assert [r.human_score for r in batch.rows] == [4.5]
    assert "outside 0-5" in batch.skipped[0].reason
    with pytest.raises(InputError, match="scale"):
        read_batch_file(path, human_scale=7)


def test_row_key_is_id_else_content_hash(tmp_path):
    path = write(tmp_path / "k.csv", "question,answer,reference,id\n4,a b,,x1\n4,a b,,\n4,a b,ref,\n")
    first, second, third = read_batch_file(path).rows
    assert first.key == "id:x1"
    assert second.key.startswith("sha:") and second.key != third.key  # the reference is part of the job


# --- grading and resuming ----------------------------------------------------------------

def graded_file(tmp_path: Path) -> Path:
    return write(tmp_path / "in.csv", (
        "question,answer,human_score,candidate\n"
        "4,\"batch norm normalises the activations of each layer\",8,ann\n"
        "4,\"no idea\",1,bob\n"
        "9,\"overfitting means memorising the training set so it fails on new data\",9,ann\n"
        "9,\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",0,bob\n"
        "17,\"<script>alert('x')</script> conv pooling\",6,bob\n"
        "31,\"no such question\",2,ann\n"
        "17,\"-convolution, pooling, fully connected and activation layers\",7,ann\n"
    ))


def test_grading_records_grades_and_grader_refusals(tmp_path):
    grader = FakeGrader()
    result = grade_batch(read_batch_file(graded_file(tmp_path)), grader, tmp_path / "out", topics=TOPICS)
    assert len(result.items) == 6 and result.n_graded == 6
    assert [s.line for s in result.skipped] == [7]
    assert "no question 31" in result.skipped[0].reason
    assert all(call[3] == "template" for call in grader.calls)
    by_line = {i.line: i for i in result.items}
    assert by_line[2].score == 8.0 and by_line[2].topic == "Training and Optimization"
    assert by_line[6].topic == "Advanced Architectures" and by_line[2].covered == 1
    stored = [json.loads(line) for line in (tmp_path / "out" / RESULTS_FILE).read_text().splitlines()]
    assert len(stored) == 6 and {"key", "content_hash", "grade"} <= set(stored[0])


def test_rerun_skips_rows_already_graded(tmp_path):
    source = graded_file(tmp_path)
    out = tmp_path / "out"
    grade_batch(read_batch_file(source), FakeGrader(), out)
    # a new row and a changed answer: only those two are graded again
    text = source.read_text().replace("no idea", "no idea at all") + "9,\"regularise with dropout\",5,bob\n"
    source.write_text(text)
    grader = FakeGrader()
    result = grade_batch(read_batch_file(source), grader, out)
    assert sorted(call[1] for call in grader.calls) == sorted(["no idea at all", "no such question", "regularise with dropout"])
    assert result.n_resumed == 5 and len(result.items) == 7


def test_changed_answer_under_the_same_id_is_regraded(tmp_path):
    source = write(tmp_path / "ids.csv", "question,answer,id\n4,one two,r1\n9,three,r2\n")
    out = tmp_path / "out"
    grade_batch(read_batch_file(source), FakeGrader(), out)
    source.write_text("question,answer,id\n4,one two three four,r1\n9,three,r2\n")
    grader = FakeGrader()
    result = grade_batch(read_batch_file(source), grader, out)
    assert [c[1] for c in grader.calls] == ["one two three four"]
    assert {i.id: i.score for i in result.items} == {"r1": 4.0, "r2": 1.0}


def test_torn_last_line_is_ignored_and_the_row_regraded(tmp_path):
    source = write(tmp_path / "t.csv", "question,answer\n4,alpha beta\n9,gamma\n")
    out = tmp_path / "out"
    grade_batch(read_batch_file(source), FakeGrader(), out)
    results = out / RESULTS_FILE
    lines = results.read_text().splitlines()
    results.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # died mid-write
    grader = FakeGrader()
    result = grade_batch(read_batch_file(source), grader, out)
    assert [c[1] for c in grader.calls] == ["gamma"] and len(result.items) == 2
    assert len([json.loads(x) for x in results.read_text().splitlines()[2:]]) == 1  # new record on its own line


def test_a_full_disk_mid_run_is_a_storage_error_and_a_rerun_resumes(tmp_path, monkeypatch):
    import errno

    from coach.errors import StorageError
    from coach.evaluation import batch as batch_module

    source = write(tmp_path / "d.csv", "question,answer,id\n" + "".join(f"4,answer {n},r{n}\n" for n in range(6)))
    out = tmp_path / "out"
    full = {"now": False}
    real_fsync = batch_module.os.fsync

    def fsync(fd):
        if full["now"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    class FillsTheDisk(FakeGrader):
        def grade(self, *args, **kwargs):
            full["now"] = len(self.calls) >= 3  # the fourth grade cannot be written
            return super().grade(*args, **kwargs)

    monkeypatch.setattr(batch_module.os, "fsync", fsync)
    monkeypatch.setattr(batch_module, "FSYNC_EVERY_S", 0.0)
    with pytest.raises(StorageError) as caught:
        grade_batch(read_batch_file(source), FillsTheDisk(), out)
    message = str(caught.value)
    assert str(out) in message and "full" in message and "resume" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # one line, no OSError chain

    full["now"] = False
    grader = FakeGrader()
    result = grade_batch(read_batch_file(source), grader, out)
    assert result.n_resumed >= 3 and len(result.items) == 6
    assert len(grader.calls) == 6 - result.n_resumed


def test_fresh_regrades_everything(tmp_path):
    source = write(tmp_path / "f.csv", "question,answer\n4,alpha\n")
    grade_batch(read_batch_file(source), FakeGrader(), tmp_path / "out")
    grader = FakeGrader()
    grade_batch(read_batch_file(source), grader, tmp_path / "out", fresh=True)
    assert len(grader.calls) == 1
    assert len((tmp_path / "out" / RESULTS_FILE).read_text().splitlines()) == 1


def test_identical_rows_are_graded_once_and_reported_twice(tmp_path):
    source = write(tmp_path / "d.csv", "question,answer,candidate\n4,same words,ann\n4,same words,bob\n")
    grader = FakeGrader()
    progress: list[tuple[int, int]] = []
    result = grade_batch(read_batch_file(source), grader, tmp_path / "out", progress=lambda d, t: progress.append((d, t)))
    assert len(grader.calls) == 1
    assert [i.candidate for i in result.items] == ["ann", "bob"]
    assert progress[0] == (0, 2) and progress[-1] == (2, 2)


def test_threads_give_the_same_grades(tmp_path):
    source = graded_file(tmp_path)
    one = grade_batch(read_batch_file(source), FakeGrader(), tmp_path / "one", workers=1)
    two = grade_batch(read_batch_file(source), FakeGrader(), tmp_path / "two", workers=3)
    assert [(i.line, i.score) for i in one.items] == [(i.line, i.score) for i in two.items]
    assert [s.line for s in one.skipped] == [s.line for s in two.skipped]


def test_ten_thousand_rows(tmp_path):
    lines = ["question,answer,human_score,id"]
    lines += [f"{(4, 9, 17)[n % 3]},\"{' '.join(['word'] * (n % 11))} answer {n}\",{n % 11 if n % 11 <= 10 else 0},r{n}"
              for n in range(10_000)]
    source = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    batch = read_batch_file(source)
    assert len(batch.rows) == 10_000 and not batch.skipped
    grader = FakeGrader()
    result = grade_batch(batch, grader, tmp_path / "out", workers=2)
    assert len(result.items) == 10_000 and len(grader.calls) == 10_000
    report = write_report(result, tmp_path / "out", ci=False)
    assert report.data.summary["n"] == 10_000 and report.data.summary["spearman"] is not None
    again = FakeGrader()
    assert grade_batch(read_batch_file(source), again, tmp_path / "out").n_resumed == 10_000
    assert again.calls == []


# --- reports -----------------------------------------------------------------------------

@pytest.fixture
def report(tmp_path):
    result = grade_batch(read_batch_file(graded_file(tmp_path)), FakeGrader(), tmp_path / "out", topics=TOPICS)
    return write_report(result, tmp_path / "out"), tmp_path / "out"


def test_report_files_exist_and_carry_the_figures(report):
    written, out = report
    for name in ("report.json", "report.html", "report.md", "items.csv", "score_histogram.png", "grader_vs_human.png"):
        assert (out / name).is_file(), name
    assert (out / "score_histogram.png").read_bytes().startswith(b"\x89PNG")
    data = json.loads((out / "report.json").read_text())
    summary = data["summary"]
    assert summary["n"] == 6 and summary["n_skipped"] == 1 and summary["n_with_human"] == 6
    for key in ("mean_score", "spearman", "pearson", "mae", "rmse", "qwk", "spearman_ci95"):
        assert summary[key] is not None, key
    # the fake scores word counts: 8, 2, 10 (capped), 1, 3, 7
    assert [i["score"] for i in data["items"]] == [8, 2, 10, 1, 3, 7]
    assert summary["mean_score"] == pytest.approx(31 / 6, abs=1e-3)
    assert len(data["items"]) == 6 and data["skipped"] == [{"line": 7, "reason": "not graded: There is no question 31 in the guide."}]
    assert {t["topic"] for t in data["per_topic"]} == {"Training and Optimization", "Advanced Architectures"}
    assert {c["candidate"] for c in data["per_candidate"]} == {"ann", "bob"}
    assert data["worst_disagreements"][0]["gap"] >= data["worst_disagreements"][-1]["gap"]
    md = (out / "report.md").read_text()
    html_page = (out / "report.html").read_text()
    for page in (md, html_page):
        assert f"{summary['spearman']}".rstrip("0") in page
        assert "Per topic" in page and "Per candidate" in page and "Worst disagreements" in page
    assert "data:image/png;base64," in html_page and "<style>" in html_page
    assert "http" not in html_page.replace("http://evil", "")  # nothing fetched from the network


def test_report_without_human_scores_has_no_agreement(tmp_path):
    source = write(tmp_path / "n.csv", "question,answer\n4,alpha beta\n9,gamma\n")
    written = write_report(grade_batch(read_batch_file(source), FakeGrader(), tmp_path / "out"), tmp_path / "out")
    assert "spearman" not in written.data.summary and "scatter" not in written.files
    assert (tmp_path / "out" / "score_histogram.png").is_file()


def test_user_text_is_escaped_in_html_and_markdown(report):
    _, out = report
    html_page = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert "<script>" not in html_page and "&lt;script&gt;" in html_page
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_csv_export_neutralises_formulas(report):
    _, out = report
    rows = list(csv.DictReader(io.StringIO((out / "items.csv").read_text())))
    answers = {r["line"]: r["answer"] for r in rows}
    assert answers["5"].startswith("'=HYPERLINK(")
    assert answers["8"].startswith("'-convolution")
    assert rows[0]["score"] == "8.0"  # numbers are left alone
    assert [neutralise_formula(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "plain", 3.5, -1.0)] == [
        "'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\tx", "plain", 3.5, -1.0]


def test_nothing_half_written_is_left_behind(report):
    _, out = report
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_writing_the_report_is_a_storage_error(tmp_path, monkeypatch):
    import errno

    from coach.errors import StorageError
    from coach.evaluation import report as report_module

    result = grade_batch(read_batch_file(graded_file(tmp_path)), FakeGrader(), tmp_path / "out", topics=TOPICS)

    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module, "atomic_write_bytes", no_space)
    with pytest.raises(StorageError, match=r"Cannot write the report to .*out.*No space left.*results.jsonl"):
        write_report(result, tmp_path / "out")


# --- the command ---------------------------------------------------------------------------

class _FakeCoach:
    def __init__(self):
        self.grader = FakeGrader()

        class _Index:
            units = []

        self.index = _Index()


def test_cli_prints_json_summary(tmp_path, monkeypatch, fake_settings):
    import coach.wiring
    from coach.cli import app

    monkeypatch.setattr(coach.wiring, "build_coach", lambda settings, **kw: _FakeCoach())
    source = graded_file(tmp_path)
    result = CliRunner().invoke(app, ["eval", str(source), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["summary"]["n"] == 6 and payload["skipped"][0]["line"] == 7
    assert Path(payload["files"]["html"]).is_file()


def test_cli_bad_file_is_a_coach_error(tmp_path, monkeypatch):
    import coach.wiring
    from coach.cli import app

    monkeypatch.setattr(coach.wiring, "build_coach", lambda settings, **kw: pytest.fail("no model for a bad file"))
    source = write(tmp_path / "x.csv", "question,text\n1,2\n")
    result = CliRunner().invoke(app, ["eval", str(source), "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, InputError) and "answer" in str(result.exception)


# --- the evaluation harness's pieces that need no model --------------------------------------

@pytest.fixture
def evals_importable(monkeypatch):
    """`evals` is a top-level folder, not part of the installed package."""
    from coach.config import REPO_ROOT

    monkeypatch.syspath_prepend(str(REPO_ROOT))


def test_mohler_conversion_drops_damaged_answers_and_reads_back(tmp_path, evals_importable):
    from evals.convert_mohler import convert

    source = write(tmp_path / "mohler.csv", (
        ",Unnamed: 0.1,Unnamed: 0,id,question,desired_answer,student_answer,score_me,score_other,score_avg\n"
        "0,0,0,1.1,What is a stack?,A LIFO structure.,\"Last in, first out.\",5,4,4.5\n"
        "1,1,1,1.1,What is a stack?,A LIFO structure.,#NAME?,5,2,3.5\n"
        "2,2,2,1.2,What is a queue?,A FIFO structure.,\"-a list\",1,2,1.5\n"
    ))
    result = convert(source, tmp_path / "out" / "converted.csv")
    assert (result.n_source, result.n_written, result.damaged_ids) == (3, 2, ("m0001",))
    batch = read_batch_file(result.dest, human_scale=5)
    assert [(r.id, r.question, r.answer, r.reference, r.human_score) for r in batch.rows] == [
        ("m0000", "What is a stack?", "Last in, first out.", "A LIFO structure.", 4.5),
        ("m0002", "What is a queue?", "-a list", "A FIFO structure.", 1.5),  # data is not formula-quoted
    ]
    with pytest.raises(InputError, match="not the Mohler CSV"):
        convert(write(tmp_path / "other.csv", "a,b\n1,2\n"), tmp_path / "x.csv")


def test_harness_markdown_renders_failed_and_missing_sections(evals_importable):
    from evals.write_report import render_markdown

    report = {
        "title": "Evaluation test", "created_utc": "2026-01-01T00:00:00Z", "seconds": 1.0, "command": "python -m evals.run",
        "git": {"commit": "abc1234", "dirty": True},
        "machine": {"cpu": "cpu", "cores": 2, "cores_usable": 2, "memory_gib": 8, "python": "3.11", "torch": "2",
                    "torch_threads": 1, "numpy": "2", "os": "Linux", "load_average_at_start": [1, 1, 1]},
        "models": {"embedder": "e"}, "index": {"manifest_sha256": "h", "corpus_hash": "c", "n_chunks": 1, "status": "loaded"},
        "work_dir": "/tmp/x", "settings": {"seed": 0},
        "sections": {
            "retrieval": {"status": "ok", "seconds": 1, "file": "r.jsonl", "n": 2,
                          "modes": {"hybrid": {"recall@1": 0.5, "recall@3": 1.0, "recall@5": 1.0, "mrr": 0.75}}},
            "chat": {"status": "not available", "reason": "no module", "seconds": 0},
            "mohler": {"status": "failed", "error": "InputError: gone", "seconds": 0.1},
            "grading_reference": {"status": "failed", "error": "OSError: missing", "seconds": 0.2},
        },
    }
    page = render_markdown(report)
    assert "## Grading agreement (reference dev set" in page and "`OSError: missing`" in page
    assert "| hybrid | 0.500 | 1.000 | 1.000 | 0.750 |" in page
    assert "Not available: no module." in page and "**Failed** after 0.1 s: `InputError: gone`" in page
    assert "abc1234 (with uncommitted changes)" in page


def test_grades_from_a_different_grader_fingerprint_are_not_reused(tmp_path):
    class VersionedGrader(FakeGrader):
        def __init__(self, fingerprint):
            super().__init__()
            self.fingerprint = fingerprint

    source = write(tmp_path / "v.csv", "question,answer\n4,alpha beta\n")
    grade_batch(read_batch_file(source), VersionedGrader("v1"), tmp_path / "out")
    same, changed = VersionedGrader("v1"), VersionedGrader("v2")
    assert grade_batch(read_batch_file(source), same, tmp_path / "out").n_resumed == 1 and same.calls == []
    assert grade_batch(read_batch_file(source), changed, tmp_path / "out").n_resumed == 0 and len(changed.calls) == 1
