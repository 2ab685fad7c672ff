"""The real app server for end-to-end tests: `coach serve` in a subprocess with the
packaged models, a free port and a temporary data folder; started once per session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from coach.config import REPO_ROOT

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
START_GUARD_S = 900  # only stops a server that never comes up from hanging the suite


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_GUARD_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"`coach serve` exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "config", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise RuntimeError(f"`coach serve` did not answer within {START_GUARD_S} s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Server:
    tmp = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COACH_")},
        "COACH_DATA_DIR": str(tmp / "data"),
        "COACH_LOG_LEVEL": "INFO",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log = tmp / "server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "coach", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}/", tmp / "data", log, process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
