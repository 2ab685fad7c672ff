"""ScriptedLLM: a deterministic stand-in for unit tests (no weights, no threads)."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from coach.llm.base import ChatMessage, GenerationConfig, apply_stops


@dataclass(frozen=True)
class Call:
    messages: tuple[ChatMessage, ...]
    config: GenerationConfig


class ScriptedLLM:
    """Replies with queued texts, then with a reply derived from the prompt.

    Every call is recorded in `.history`. "Tokens" are whitespace-separated
    words, so `max_tokens` and `count_tokens` behave plausibly in tests.
    """

    def __init__(self, replies: Iterable[str] = (), name: str = "fake:scripted"):
        self.name = name
        self.replies: deque[str] = deque(replies)
        self.history: list[Call] = []

    def queue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> str:
        return "".join(self.stream(messages, config))

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        # Record and pick the reply now, not lazily on first next(): a test that
        # only builds the iterator still sees the call.
        self.history.append(Call(tuple(messages), config))
        reply = self.replies.popleft() if self.replies else default_reply(messages)
        pieces = re.findall(r"\S+\s*|\s+", reply)[: config.max_tokens]
        return apply_stops(iter(pieces), config.stop)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class RetainingLLM(ScriptedLLM):
    """A ScriptedLLM that keeps every stream it hands out, as a tracer or a debugger might, so a
    stream ends only when its reader closes it, never by garbage collection: tests use it to check
    that every caller closes what it stops reading (a local model is held until then)."""

    def __init__(self, replies: Iterable[str] = (), name: str = "fake:retaining"):
        super().__init__(replies, name)
        self.streams: list[Iterator[str]] = []
        self.closed = 0  # streams that ended, read to the end or closed
        self.read = 0  # pieces handed to readers, over all streams

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        made = self._counted(super().stream(messages, config))
        self.streams.append(made)
        return made

    def _counted(self, pieces: Iterator[str]) -> Iterator[str]:
        try:
            for piece in pieces:
                self.read += 1
                yield piece
        finally:
            self.closed += 1


def default_reply(messages: Sequence[ChatMessage]) -> str:
    """Same prompt, same reply: echoes the start of the last user message plus a digest."""
    user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    digest = hashlib.sha256("\x1e".join(f"{m.role}:{m.content}" for m in messages).encode()).hexdigest()[:8]
    words = " ".join(user.split()[:12])
    return f"Scripted reply {digest} to: {words}"


__all__ = ["ScriptedLLM", "RetainingLLM", "Call", "default_reply"]
