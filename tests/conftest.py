"""Shared fixtures. Expensive ones (embedder, index, models) are built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from coach.config import REPO_ROOT, Settings, load_settings  # noqa: E402
from coach.corpus import load_corpus  # noqa: E402

GUIDE = REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"


@pytest.fixture(scope="session")
def guide_chunks():
    return load_corpus(GUIDE)


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    """Hashing embedder, scripted LLM, everything written under tmp_path."""
    return load_settings(
        overrides={
            "embedding_model": "hashing",
            "llm_backend": "fake",
            "index_dir": tmp_path / "index",
            "data_dir": tmp_path / "data",
            "corpus_path": GUIDE,
        },
        environ={},
    )


@pytest.fixture(scope="session")
def real_settings() -> Settings:
    """The packaged models and the repo's own index folder (built once, then reused)."""
    return load_settings(overrides={"corpus_path": REPO_ROOT / "corpus"}, environ={})


@pytest.fixture(scope="session")
def real_coach(real_settings):
    from coach.wiring import build_coach

    return build_coach(real_settings)
