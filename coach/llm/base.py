"""The LLM protocol every backend implements, and the small pieces they share.

A backend turns chat messages into text, either all at once (`generate`) or as
pieces (`stream`). Greedy decoding (temperature 0) is deterministic for a given
backend, model and prompt, because grading depends on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from coach.config import Settings
from coach.errors import ModelError

ROLES = ("system", "user", "assistant")
# A local model generates one reply at a time. A caller waits this long for its turn; past it,
# something holds the model (a stream nobody reads or closes) and waiting longer would hang.
MODEL_BUSY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")


@dataclass(frozen=True)
class GenerationConfig:
    max_tokens: int = 160
    temperature: float = 0.0  # 0: greedy, deterministic
    seed: int = 0  # only matters when temperature > 0
    stop: tuple[str, ...] | None = ()  # generation ends before the first of these; it is not returned

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        # Normalised to a tuple: None and lists are accepted, a list would make the config unhashable.
        object.__setattr__(self, "stop", tuple(s for s in (self.stop or ()) if s))

    @classmethod
    def from_settings(cls, settings: Settings, **changes) -> GenerationConfig:
        base = dict(max_tokens=settings.max_new_tokens, temperature=settings.temperature, seed=settings.seed)
        return cls(**(base | changes))


class LLM(Protocol):
    name: str  # "backend:model", recorded in evaluation reports

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> str:
        """The whole reply, stop sequence excluded."""

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        """Pieces of the reply as they are produced; they join to what `generate` returns."""

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` for this model (an estimate for remote models)."""


class StopScanner:
    """Cuts streamed text at the first stop sequence.

    Pieces arrive in arbitrary splits, so text that could still be the start of a
    stop sequence is held back until the next piece settles it.
    """

    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Text that is safe to emit now (empty once a stop sequence was seen)."""
        if self.stopped:
            return ""
        self._pending += piece
        if not self.stops:
            out, self._pending = self._pending, ""
            return out
        cut = min((i for i in (self._pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        keep = self._held_back()
        out = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(out):]
        return out

    def finish(self) -> str:
        """What is still held back when generation ends without a stop."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out

    def _held_back(self) -> int:
        # Longest suffix of the pending text that is a proper prefix of some stop sequence.
        longest = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self._pending)), longest, -1):
                if self._pending.endswith(stop[:n]):
                    longest = n
                    break
        return longest


def apply_stops(pieces: Iterator[str], stops: Sequence[str]) -> Iterator[str]:
    """Wrap a piece iterator so it ends at the first stop sequence (and closes the source)."""
    scanner = StopScanner(stops)
    try:
        for piece in pieces:
            out = scanner.feed(piece)
            if out:
                yield out
            if scanner.stopped:
                return
        tail = scanner.finish()
        if tail:
            yield tail
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def acquire_model(lock: threading.Lock, timeout_s: float, name: str) -> None:
    """Take the model's one generation slot, or fail with a message instead of waiting forever.
    The caller releases `lock` (in a finally) when its generation ends or its stream is closed."""
    if not lock.acquire(timeout=timeout_s):
        raise ModelError(
            f"The model is busy: another reply from {name} has held it for over {timeout_s:.0f} s. "
            "Try again in a minute; if this keeps happening, restart the app."
        )


def estimate_tokens(text: str) -> int:
    """About four characters per token for English BPE vocabularies."""
    return max(1, round(len(text) / 4)) if text else 0


__all__ = [
    "MODEL_BUSY_TIMEOUT_S",
    "ChatMessage",
    "GenerationConfig",
    "LLM",
    "StopScanner",
    "acquire_model",
    "apply_stops",
    "estimate_tokens",
]
