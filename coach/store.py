"""The persisted index: FAISS vectors + a JSON chunk store + a manifest.

Layout of an index folder:
  vectors.faiss   faiss.write_index output (no pickle anywhere)
  chunks.json     every Chunk, plus the embedded "entries" (which text each vector is)
  manifest.json   embedding model, dimension, corpus hash, chunker version, index
                  type and the sha256 of the two files above; written last, so a
                  build that died half-way leaves no manifest and is rebuilt.
Writes are atomic (temp file, fsync, rename) and a build holds a lock, so two
processes building at once cannot corrupt it: one builds, the other waits and
then loads the finished index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coach.corpus import CHUNKER_VERSION, GUIDE_TEXT, QUESTION, SUBCHUNK, Chunk
from coach.embed import Embedder
from coach.errors import IndexStoreError

VECTORS_FILE = "vectors.faiss"
CHUNKS_FILE = "chunks.json"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".build.lock"
FORMAT_VERSION = 2  # bump when entries_for changes what is embedded
HNSW_M = 32
HNSW_EF_SEARCH = 96

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Entry:
    """One embedded text: which unit it belongs to and which view of it it is."""

    unit: str  # the id retrieval returns ("q17")
    chunk: str  # the chunk the text came from ("q17.2")
    view: str  # "title" or "body"


@dataclass
class Index:
    chunks: dict[str, Chunk]  # by id, units and sub-chunks alike
    entries: list[Entry]
    vectors: object  # a faiss.Index
    manifest: dict

    @property
    def units(self) -> list[Chunk]:
        """Retrievable units in corpus order (sub-chunks fold into their question)."""
        return [c for c in self.chunks.values() if c.kind != SUBCHUNK]

    def unit(self, unit_id: str) -> Chunk:
        return self.chunks[unit_id]


SENTENCE_MIN_WORDS = 6
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def statements(text: str) -> list[str]:
    """The sentences and bullets of an answer, code blocks left out."""
    out = []
    for line in re.sub(r"```.*?```", " ", text, flags=re.DOTALL).splitlines():
        for sentence in _SENTENCE_END.split(line.strip().removeprefix("- ")):
            if len(sentence.split()) >= SENTENCE_MIN_WORDS:
                out.append(sentence.strip())
    return out


def entries_for(chunks: list[Chunk]) -> tuple[list[Entry], list[str]]:
    """What to embed: each question's title on its own (candidates ask by the
    question, not the answer), each body piece prefixed by its title, and each
    sentence of a question's answer (a query often names one specific point)."""
    has_pieces = {c.parent for c in chunks if c.kind == SUBCHUNK}
    entries: list[Entry] = []
    texts: list[str] = []
    for chunk in chunks:
        if chunk.kind == QUESTION:
            entries.append(Entry(chunk.id, chunk.id, "title"))
            texts.append(chunk.title)
            if chunk.id in has_pieces:
                continue
        elif chunk.kind == GUIDE_TEXT and len(chunk.text.split()) < 5:
            continue
        entries.append(Entry(chunk.unit_id, chunk.id, "body"))
        texts.append(f"{chunk.title}\n{chunk.text}")
        if chunk.kind in (QUESTION, SUBCHUNK):
            for sentence in statements(chunk.text):
                entries.append(Entry(chunk.unit_id, chunk.id, "sentence"))
                texts.append(sentence)
    return entries, texts


def _faiss():
    import faiss  # only this module touches faiss

    return faiss


def make_vector_index(vectors: np.ndarray, approximate_from: int):
    """Exact inner-product search for small corpora; HNSW past `approximate_from`."""
    faiss = _faiss()
    dim = vectors.shape[1]
    if len(vectors) >= approximate_from:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename: all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = (index_dir / LOCK_FILE).open("a")
    except OSError as exc:
        raise IndexStoreError(f"Cannot write to the index folder {index_dir}: {exc.strerror}.") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a second builder waits here, then reuses the result
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def expected_manifest(embedder: Embedder, corpus_hash: str) -> dict:
    return {
        "format": FORMAT_VERSION,
        "embedding_model": embedder.model_id,
        "corpus_hash": corpus_hash,
        "chunker_version": CHUNKER_VERSION,
    }


def build_index(
    chunks: list[Chunk],
    embedder: Embedder,
    index_dir: Path,
    corpus_hash: str,
    approximate_from: int,
    progress: Progress | None = None,
) -> Index:
    """Embed, index and persist `chunks`; returns the loaded Index."""
    entries, texts = entries_for(chunks)
    batches = [texts[i : i + 256] for i in range(0, len(texts), 256)]
    parts = []
    for n, batch in enumerate(batches):
        parts.append(embedder.embed(batch))
        if progress:
            progress(min((n + 1) * 256, len(texts)), len(texts))
    vectors = np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
    vector_index = make_vector_index(vectors, approximate_from)
    manifest = expected_manifest(embedder, corpus_hash) | {
        "dim": int(vectors.shape[1]),
        "index_type": type(vector_index).__name__,
        "n_vectors": int(vectors.shape[0]),
        "n_chunks": len(chunks),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_index(index_dir, chunks, entries, vector_index, manifest)
    return Index({c.id: c for c in chunks}, entries, vector_index, manifest)


def save_index(index_dir: Path, chunks: list[Chunk], entries: list[Entry], vector_index, manifest: dict) -> None:
    faiss = _faiss()
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        (index_dir / MANIFEST_FILE).unlink(missing_ok=True)  # invalid until the new one is written
        atomic_write_bytes(index_dir / VECTORS_FILE, faiss.serialize_index(vector_index).tobytes())
        store = {
            "chunks": [c.to_json() for c in chunks],
            "entries": [[e.unit, e.chunk, e.view] for e in entries],
        }
        atomic_write_bytes(index_dir / CHUNKS_FILE, json.dumps(store, ensure_ascii=False).encode())
        manifest = dict(manifest)
        manifest["files"] = {name: _sha256(index_dir / name) for name in (VECTORS_FILE, CHUNKS_FILE)}
        atomic_write_bytes(index_dir / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())
    except OSError as exc:
        raise IndexStoreError(
            f"Cannot write the index to {index_dir}: {exc.strerror or exc}. "
            "Free some disk space or point index_dir (COACH_INDEX_DIR) at a writable folder."
        ) from None


def read_manifest(index_dir: Path) -> dict | None:
    """The manifest, or None when there is no complete index."""
    path = index_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexStoreError(
            f"The index manifest {path} is corrupt. Rebuild it with `coach index --rebuild`."
        ) from None


def is_current(manifest: dict | None, wanted: dict) -> bool:
    return manifest is not None and all(manifest.get(k) == v for k, v in wanted.items())


def load_index(index_dir: Path) -> Index:
    """Load and verify; any damage is an IndexStoreError that names the fix."""
    fix = "Rebuild it with `coach index --rebuild`."
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexStoreError(f"No index in {index_dir}. Build it with `coach index`.")
    for name, digest in manifest.get("files", {}).items():
        path = index_dir / name
        if not path.is_file() or _sha256(path) != digest:
            raise IndexStoreError(f"The index file {path} is missing or corrupt. {fix}")
    faiss = _faiss()
    try:
        raw = np.frombuffer((index_dir / VECTORS_FILE).read_bytes(), dtype=np.uint8)
        vector_index = faiss.deserialize_index(raw)
        store = json.loads((index_dir / CHUNKS_FILE).read_text(encoding="utf-8"))
        chunks = [Chunk.from_json(item) for item in store["chunks"]]
        entries = [Entry(*row) for row in store["entries"]]
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise IndexStoreError(f"The index in {index_dir} cannot be read ({exc}). {fix}") from None
    if vector_index.ntotal != len(entries):
        raise IndexStoreError(f"The index in {index_dir} is inconsistent (vectors vs entries). {fix}")
    if hasattr(vector_index, "hnsw"):
        vector_index.hnsw.efSearch = HNSW_EF_SEARCH
    return Index({c.id: c for c in chunks}, entries, vector_index, manifest)
