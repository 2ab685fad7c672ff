"""Helpers for the hardening suites: the fake-model settings and a runner for the real `coach`
command pointed at the same fake models through COACH_* variables."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from coach.config import REPO_ROOT

GUIDE = REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"
CLI_GUARD_S = 300  # only stops a hung command from hanging the suite


def fake_overrides(root: Path) -> dict:
    return {
        "embedding_model": "hashing",
        "llm_backend": "fake",
        "index_dir": root / "index",
        "data_dir": root / "data",
        "corpus_path": GUIDE,
    }


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def coach_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment for a `coach` subprocess using the fake models under `root`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update({f"COACH_{k.upper()}": str(v) for k, v in fake_overrides(root).items()})
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"})
    env.update(extra)
    return env


def run_coach(args: list[str], root: Path, stdin: bytes | None = None, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> Ran:
    proc = subprocess.run(
        [sys.executable, "-m", "coach", *args], input=stdin, capture_output=True,
        cwd=cwd or root, env=env or coach_env(root), timeout=CLI_GUARD_S,
    )
    return Ran(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def assert_clean(ran: Ran) -> None:
    """A clear message or a result: never a traceback, never a crash signal."""
    assert "Traceback" not in ran.stderr, ran.stderr[-3000:]
    assert "Traceback" not in ran.stdout, ran.stdout[-3000:]
    assert ran.returncode in (0, 2), (ran.returncode, ran.stderr[-2000:])
    if ran.returncode == 2:
        assert ran.stderr.strip().startswith("error: ") or "\nerror: " in ran.stderr or "Usage:" in ran.stderr, ran.stderr
