import json
import threading

import pytest

from coach.embed import HashingEmbedder
from coach.errors import IndexStoreError
from coach.indexing import ensure_index
from coach.lexical import BM25, CharNgramTfidf, tokenize
from coach.query import SpellingCorrector, rewrite_query
from coach.retrieve import HybridRetriever
from coach.store import CHUNKS_FILE, MANIFEST_FILE, VECTORS_FILE, load_index


@pytest.fixture
def built(fake_settings):
    embedder = HashingEmbedder()
    index, status = ensure_index(fake_settings, embedder)
    return fake_settings, embedder, index, status


def test_build_then_load_round_trip(built):
    settings, embedder, index, status = built
    assert status == "built"
    again, status2 = ensure_index(settings, embedder)
    assert status2 == "loaded"
    assert again.manifest["corpus_hash"] == index.manifest["corpus_hash"]
    assert again.vectors.ntotal == index.vectors.ntotal == len(index.entries)
    assert set(again.chunks) == set(index.chunks)
    assert again.manifest["index_type"] == "IndexFlatIP"


def test_stale_index_is_rebuilt_with_a_reason(built, tmp_path):
    settings, embedder, index, _ = built
    manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    manifest["chunker_version"] = "old"
    (settings.index_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
    _, status = ensure_index(settings, embedder)
    assert status.startswith("rebuilt (stale: chunker_version")


@pytest.mark.parametrize("victim", [VECTORS_FILE, CHUNKS_FILE])
def test_corrupt_files_name_the_fix(built, victim):
    settings, *_ = built
    path = settings.index_dir / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(IndexStoreError, match="coach index --rebuild"):
        load_index(settings.index_dir)


def test_truncated_manifest_is_rebuilt_not_crashed(built):
    settings, embedder, *_ = built
    (settings.index_dir / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexStoreError, match="rebuild"):
        load_index(settings.index_dir)
    _, status = ensure_index(settings, embedder)
    assert status == "built"


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexStoreError, match="coach index"):
        load_index(tmp_path)


def test_two_builders_at_once_leave_one_valid_index(fake_settings):
    embedder = HashingEmbedder()
    results, errors = [], []

    def build():
        try:
            results.append(ensure_index(fake_settings, embedder, rebuild=False)[1])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results).count("built") == 1 and results.count("loaded") == 2
    assert load_index(fake_settings.index_dir).vectors.ntotal > 0


def test_approximate_index_past_the_threshold(fake_settings):
    settings = fake_settings.replace(approximate_index_from=10)
    index, _ = ensure_index(settings, HashingEmbedder())
    assert index.manifest["index_type"] == "IndexHNSWFlat"
    assert load_index(settings.index_dir).vectors.ntotal == index.vectors.ntotal


def test_retrieval_returns_units_once_each(built):
    _, embedder, index, _ = built
    retriever = HybridRetriever(index, embedder)
    hits = retriever.search("what are the different layers in a CNN convolution pooling", k=5)
    ids = [h.id for h in hits]
    assert ids[0] == "q17"
    assert len(ids) == len(set(ids))
    assert all("." not in i for i in ids)
    assert hits[0].best_chunk.startswith("q17")


def test_modes_and_empty_query(built):
    _, embedder, index, _ = built
    retriever = HybridRetriever(index, embedder)
    for mode in ("dense", "bm25", "hybrid"):
        assert retriever.search("batch normalization mean variance", k=3, mode=mode)[0].id == "q04"
    assert retriever.search("   ", k=3) == []


def test_bm25_scores_match_a_hand_computed_case():
    bm25 = BM25(["cat sat", "dog dog"])
    scores = bm25.scores("dog")
    assert scores[0] == 0
    assert scores[1] > 0


def test_tokenize_and_glossary():
    assert tokenize("Normalizing the normalization") == ["normal", "normal"]
    assert "batch normalization" in rewrite_query("what is BN?")
    assert rewrite_query("plain words") == "plain words"


def test_misspellings_are_corrected_from_the_corpus_vocabulary():
    corrector = SpellingCorrector(["gradient descent minimizes the loss", "weight initialization"])
    assert corrector.correct("gradiant") == "gradient"
    assert corrector.correct("initalization") == "initialization"
    assert corrector.correct("gradient") is None  # known words are left alone
    assert corrector.correct("zebra") is None  # nothing close enough
    assert "gradient" in rewrite_query("gradiant decent", corrector)


def test_char_ngrams_survive_typos():
    chars = CharNgramTfidf(["vanishing gradients", "batch normalization"])
    scores = chars.scores("vanishng gradeint")
    assert scores[0] > scores[1] >= 0
