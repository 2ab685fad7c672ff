"""The composition root: the one place that names concrete backends.

`build_coach(settings)` gives every front end (CLI, app, benchmarks) the same
objects, built once per process; heavy parts (the LLM, the grader) are built on
first use so a command that does not need them does not pay for them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from coach.config import Settings
from coach.embed import Embedder, build_embedder
from coach.indexing import ensure_index
from coach.retrieve import HybridRetriever
from coach.store import Index, Progress


@dataclass
class Coach:
    settings: Settings
    embedder: Embedder
    index: Index
    index_status: str  # "loaded", "built" or "rebuilt (...)"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.index, self.embedder)

    @cached_property
    def llm(self):
        from coach.llm.factory import build_llm

        return build_llm(self.settings)

    @cached_property
    def chat(self):
        from coach.chat import GroundedChat

        return GroundedChat(self.retriever, self.llm, self.settings)

    @cached_property
    def grader(self):
        from coach.grading import Grader

        return Grader(self.index, self.embedder, self.retriever, self.settings, llm_provider=lambda: self.llm)

    @cached_property
    def interviews(self):
        from coach.interview.db import InterviewDB
        from coach.interview.engine import InterviewEngine

        return InterviewEngine(self.grader, self.index, InterviewDB(self.settings.db_path), self.settings)


_COACHES: dict[Settings, Coach] = {}
_BUILD_LOCK = threading.Lock()


def build_coach(settings: Settings, rebuild: bool = False, progress: Progress | None = None) -> Coach:
    """One Coach per Settings per process (the app's users share it)."""
    with _BUILD_LOCK:
        if rebuild or settings not in _COACHES:
            embedder = build_embedder(settings)
            index, status = ensure_index(settings, embedder, rebuild=rebuild, progress=progress)
            _COACHES[settings] = Coach(settings, embedder, index, status)
        return _COACHES[settings]
