"""The graded dev sets are data the grader is fitted and judged on: their shape is checked
here so a hand edit that breaks an id, a split or a score fails fast."""

from __future__ import annotations

import json

import pytest

from coach.config import REPO_ROOT

EVALS = REPO_ROOT / "evals"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVALS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["graded_dev.jsonl", "reference_dev.jsonl", "student_dev.jsonl"])
def test_each_question_sits_in_one_split_and_scores_are_half_points(name):
    rows = _rows(name)
    assert len({r["id"] for r in rows}) == len(rows)
    split_of: dict[str, set[str]] = {}
    for row in rows:
        split_of.setdefault(str(row["question"]), set()).add(row["split"])
        assert 0 <= row["human_score"] <= 10 and row["human_score"] * 2 == int(row["human_score"] * 2)
        assert row["answer"] is not None and row["reason"].strip()
    assert all(len(splits) == 1 for splits in split_of.values())
    assert {r["split"] for r in rows} == {"fit", "heldout"}


@pytest.mark.parametrize("name", ["reference_dev.jsonl", "student_dev.jsonl"])
def test_reference_rows_carry_their_reference_and_one_per_question(name):
    rows = _rows(name)
    references: dict[str, set[str]] = {}
    for row in rows:
        assert row["reference"].strip()
        references.setdefault(row["question"], set()).add(row["reference"])
    assert all(len(refs) == 1 for refs in references.values())
    assert len(references) >= 30 and len(rows) >= 150
