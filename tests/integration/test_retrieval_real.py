"""Retrieval with the real packaged embedder on the real guide."""

import json
import subprocess
import sys

import pytest

from coach.config import REPO_ROOT
from coach.embed import SentenceTransformerEmbedder
from coach.errors import ModelError
from coach.evaluation.retrieval_eval import evaluate_retrieval, read_retrieval_queries

pytestmark = pytest.mark.model
DEV = REPO_ROOT / "evals" / "retrieval_dev.jsonl"


def test_dev_set_quality_meets_the_bar(real_coach):
    queries = read_retrieval_queries(DEV)
    assert len(queries) >= 60
    hybrid = evaluate_retrieval(real_coach.retriever, queries, "hybrid")
    dense = evaluate_retrieval(real_coach.retriever, queries, "dense")
    assert hybrid["recall@1"] >= 0.90
    assert hybrid["recall@3"] >= 0.98
    assert hybrid["mrr"] >= 0.92
    assert hybrid["mrr"] > dense["mrr"]  # fusion must earn its keep


def test_duplicate_question_takes_one_slot(real_coach):
    hits = real_coach.retriever.search("difference between pre-training and fine-tuning a model", k=5)
    assert hits[0].id == "q15"
    assert sum(1 for h in hits if 15 in h.chunk.numbers or 21 in h.chunk.numbers) == 1


def test_search_cli_json_contract(real_settings, real_coach):
    out = subprocess.run(
        [sys.executable, "-m", "coach", "search", "how do I stop my gradients exploding", "--k", "3", "--json"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    )
    hits = json.loads(out.stdout)
    assert len(hits) == 3
    assert set(hits[0]) == {"id", "question", "title", "section", "score", "text"}
    assert {h["question"] for h in hits} & {7, 19, 13}


def test_eval_retrieval_cli(real_coach):
    out = subprocess.run(
        [sys.executable, "-m", "coach", "eval-retrieval", str(DEV), "--json"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    )
    figures = json.loads(out.stdout)
    assert set(figures) == {"n", "recall@1", "recall@3", "recall@5", "mrr"}
    assert figures["recall@5"] >= figures["recall@3"] >= figures["recall@1"] > 0.5


def test_missing_embedding_model_is_a_clear_error_not_a_download(tmp_path):
    # The path is checked before any library call, so nothing can reach for a hub.
    with pytest.raises(ModelError, match="does not exist.*never downloaded"):
        SentenceTransformerEmbedder(str(tmp_path / "no-such-model")).embed(["x"])
