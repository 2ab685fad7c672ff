"""Make sure an index that matches the corpus and embedder exists, building it if not."""

from __future__ import annotations

import logging
from pathlib import Path

from coach.config import Settings
from coach.corpus import corpus_hash, load_corpus
from coach.embed import Embedder
from coach.errors import IndexStoreError
from coach.store import (
    Index,
    Progress,
    build_index,
    build_lock,
    expected_manifest,
    is_current,
    load_index,
    read_manifest,
)

log = logging.getLogger(__name__)


def ensure_index(
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress | None = None,
    corpus_path: Path | None = None,
) -> tuple[Index, str]:
    """Return (index, what happened): 'loaded', 'built' or 'rebuilt (reason)'."""
    corpus = corpus_path or settings.corpus_path
    wanted = expected_manifest(embedder, corpus_hash(corpus))
    index_dir = settings.index_dir
    if not rebuild:
        manifest = _manifest_or_none(index_dir)
        if is_current(manifest, wanted):
            return load_index(index_dir), "loaded"
    with build_lock(index_dir):
        # Another process may have finished the same build while we waited for the lock.
        manifest = _manifest_or_none(index_dir)
        if not rebuild and is_current(manifest, wanted):
            return load_index(index_dir), "loaded"
        reason = _why_rebuild(manifest, wanted, rebuild)
        if reason != "built":
            log.warning("Index %s: rebuilding because %s", index_dir, reason)
        chunks = load_corpus(corpus)
        index = build_index(chunks, embedder, index_dir, wanted["corpus_hash"], settings.approximate_index_from, progress)
        return index, reason


def _manifest_or_none(index_dir: Path) -> dict | None:
    try:
        return read_manifest(index_dir)
    except IndexStoreError:
        return None  # a corrupt manifest is treated as no index: the build replaces it


def _why_rebuild(manifest: dict | None, wanted: dict, forced: bool) -> str:
    if forced:
        return "rebuilt (asked for)"
    if manifest is None:
        return "built"
    changed = [k for k, v in wanted.items() if manifest.get(k) != v]
    return f"rebuilt (stale: {', '.join(changed)} changed)"
