"""Pieces every command module shares: settings from flags, JSON output, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coach.config import Settings, load_settings


def settings_from(**overrides: Any) -> Settings:
    """Settings with CLI flags applied on top of file and environment."""
    return load_settings(overrides={k: v for k, v in overrides.items() if v is not None})


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


_progress_line_open = False  # a bar is on screen without its newline: an error must not be printed after it


def stderr_progress(label: str) -> Callable[[int, int], None]:
    """A one-line progress bar on stderr (stdout stays clean for --json)."""

    def update(done: int, total: int) -> None:
        global _progress_line_open
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        _progress_line_open = done < total
        if not _progress_line_open:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return update


def end_progress_line() -> None:
    """Finish a progress bar cut short, so the next message starts its own line."""
    global _progress_line_open
    if _progress_line_open:
        sys.stderr.write("\n")
        _progress_line_open = False


def read_text_arg(value: str) -> str:
    """'-' reads standard input; anything else is the text itself."""
    if value == "-":
        data = sys.stdin.buffer.read()
        return data.decode("utf-8", errors="replace")
    return value


def existing_file(path: Path) -> Path:
    from coach.errors import InputError

    if not path.is_file():
        raise InputError(f"File {path} does not exist.")
    return path
