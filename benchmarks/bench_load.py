"""Load test: the real `coach serve` under many concurrent simulated users.

    python -m benchmarks.bench_load [--quick] [--users N] [--seconds S] [--no-sweep] [--json FILE]

Starts `coach serve` (packaged models, 127.0.0.1, a free port, a temporary data folder) in a
subprocess, then N users, each with its own gradio_client session, alternate chat questions
(/chat) and mock-interview turns (/interview_start, /interview_answer) for S seconds. It reports
failed requests, p50/p95 latency per endpoint, the server's RSS over the run (first vs last third,
and its trend over the last half in MB per minute) and the queue depth (sampled from gradio's
/gradio_api/queue/status). A sweep over 1, 2, 4, 8, 16, 24 users then shows where throughput
stops growing on this machine.
Defaults: 20 users for 150 s, sweep steps of 30 s; --quick: 20 s and 10 s. One request of
each kind is sent first (warm_up) so lazily built parts do not count as memory growth.
Exit code 1 when any request failed.

Every loop is bounded: users stop starting requests at the deadline, and the server is stopped
at the end. Loopback only. Figures are for this machine and its load at the time: they are
written down in docs/reliability.md, never asserted by a test.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

START_GUARD_S = 900  # only stops a server that never comes up from hanging the run
REQUEST_GUARD_S = 600  # one request that takes longer than this counts as failed
SWEEP_USERS = (1, 2, 4, 8, 16, 24)

CHAT_QUESTIONS = (
    "Explain gradient descent.",
    "What is batch normalization for?",
    "Why do we use dropout?",
    "What is the vanishing gradient problem?",
    "How does an LSTM differ from a plain RNN?",
    "What does a convolution layer learn?",
)
ANSWERS = (
    "It normalizes activations using the batch mean and variance, then applies a learned scale and shift.",
    "We update the weights in the direction of the negative gradient of the loss, scaled by a learning rate.",
    "I am not sure, maybe it has to do with regularization and overfitting.",
    "",
)


@dataclass(frozen=True)
class Call:
    endpoint: str
    started: float  # seconds since the run began
    latency: float
    ok: bool
    error: str = ""


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class LoadResult:
    users: int
    seconds: float
    calls: list[Call]
    rss_mb: list[tuple[float, float]]  # (t, MB)
    queue: list[tuple[float, int]]  # (t, queue_size)
    wall: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Call]:
        return [c for c in self.calls if not c.ok]

    def latency(self, endpoint: str | None = None) -> dict[str, float]:
        values = sorted(c.latency for c in self.calls if c.ok and (endpoint is None or c.endpoint == endpoint))
        if not values:
            return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
        return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95), "max": values[-1]}

    def memory_thirds(self) -> tuple[float, float]:
        """Mean RSS (MB) over the first and the last third of the run."""
        if not self.rss_mb:
            return float("nan"), float("nan")
        end = max(t for t, _ in self.rss_mb) or 1.0
        first = [m for t, m in self.rss_mb if t <= end / 3] or [self.rss_mb[0][1]]
        last = [m for t, m in self.rss_mb if t >= 2 * end / 3] or [self.rss_mb[-1][1]]
        return statistics.fmean(first), statistics.fmean(last)

    def memory_slope(self) -> float:
        """Least-squares trend of RSS over the last half of the run, MB per minute: caches and
        buffers fill in the first minutes, so a leak shows here and warm-up does not."""
        if len(self.rss_mb) < 4:
            return float("nan")
        end = max(t for t, _ in self.rss_mb)
        half = [(t / 60, m) for t, m in self.rss_mb if t >= end / 2]
        try:
            return statistics.linear_regression([t for t, _ in half], [m for _, m in half]).slope
        except statistics.StatisticsError:  # fewer than two samples, or all at one time
            return float("nan")

    @property
    def throughput(self) -> float:
        done = sum(1 for c in self.calls if c.ok)
        return done / self.wall if self.wall else 0.0

    def summary(self) -> dict:
        first, last = self.memory_thirds()
        return {
            "users": self.users, "seconds": round(self.wall, 1), "requests": len(self.calls),
            "failures": len(self.failures), "throughput_rps": round(self.throughput, 3),
            "latency": {ep: self.latency(ep) for ep in sorted({c.endpoint for c in self.calls})},
            "rss_mb_first_third": round(first, 1), "rss_mb_last_third": round(last, 1),
            "rss_mb_max": round(max((m for _, m in self.rss_mb), default=float("nan")), 1),
            "rss_mb_per_min_last_half": round(self.memory_slope(), 2),
            "queue_max": max((q for _, q in self.queue), default=0),
            "errors": sorted({c.error for c in self.failures})[:10],
        }


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# -- the server ----------------------------------------------------------------------------------

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


@contextmanager
def served(workdir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """`coach serve` on 127.0.0.1 and a free port, data under `workdir`; stopped on exit."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COACH_")},
        "COACH_DATA_DIR": str(workdir / "data"),
        "COACH_LOG_LEVEL": "WARNING",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **(extra_env or {}),
    }
    log = workdir / "server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "coach", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}/", process, log)
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


def rss_mb(pid: int) -> float:
    """Resident memory of the server process and its children, in MB."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def queue_size(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "gradio_api/queue/status", timeout=5) as response:
            return int(json.load(response).get("queue_size") or 0)
    except (urllib.error.URLError, OSError, ValueError):
        return None


# -- the simulated users --------------------------------------------------------------------------

class SimulatedUser:
    """One person: chat questions and interview turns, alternately, until the deadline."""

    def __init__(self, url: str, number: int, origin: float, calls: list[Call], lock: threading.Lock):
        from gradio_client import Client

        self.client = Client(url, verbose=False, httpx_kwargs={"timeout": REQUEST_GUARD_S})
        self.number = number
        self.name = f"load-user-{number}"
        self.origin = origin
        self.calls = calls
        self.lock = lock
        self.session: str | None = None
        self.step = 0

    def _call(self, endpoint: str, *args):
        started = time.perf_counter()
        try:
            result = self.client.predict(*args, api_name=endpoint)
            ok, error = True, ""
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported, not raised
            result, ok, error = None, False, f"{type(exc).__name__}: {str(exc)[:200]}"
        call = Call(endpoint, started - self.origin, time.perf_counter() - started, ok, error)
        with self.lock:
            self.calls.append(call)
        return result

    def wants_chat(self) -> bool:
        """Even users alternate chat and interview; odd users answer two interview turns per
        chat question, so interview answers are exercised even when each request is slow."""
        if self.number % 2:
            return self.step % 3 == 0
        return self.step % 2 == 1

    def one_turn(self) -> None:
        self.step += 1
        if self.wants_chat():
            self._call("/chat", CHAT_QUESTIONS[(self.number + self.step) % len(CHAT_QUESTIONS)])
        elif self.session is None:
            reply = self._call("/interview_start", {"user": self.name, "length": 3})
            self.session = reply["session_id"] if reply else None
        else:
            reply = self._call("/interview_answer",
                               {"user": self.name, "session_id": self.session,
                                "answer": ANSWERS[(self.number + self.step) % len(ANSWERS)]})
            if reply is None or reply.get("finished"):
                self.session = None

    def run(self, deadline: float) -> None:
        while time.perf_counter() < deadline:
            self.one_turn()


def warm_up(server: Server) -> None:
    """One request of each kind, one at a time, before measuring: the engine builds some parts on
    first use (the grader's rubric catalog, caches), and that one-off growth is not a leak."""
    person = SimulatedUser(server.url, 1, time.perf_counter(), [], threading.Lock())
    try:
        for _ in range(3):  # interview start, interview answer, chat (user 1's order)
            person.one_turn()
    finally:
        person.client.close()


def run_load(server: Server, users: int, seconds: float, sample_every: float = 1.0) -> LoadResult:
    """`users` simulated users for `seconds`; RSS and queue depth sampled meanwhile."""
    calls: list[Call] = []
    lock = threading.Lock()
    origin = time.perf_counter()
    result = LoadResult(users, seconds, calls, [], [])
    people = [SimulatedUser(server.url, n, origin, calls, lock) for n in range(users)]
    deadline = time.perf_counter() + seconds
    finished = threading.Event()

    def sample() -> None:
        while not finished.is_set():
            t = time.perf_counter() - origin
            result.rss_mb.append((t, rss_mb(server.process.pid)))
            depth = queue_size(server.url)
            if depth is not None:
                result.queue.append((t, depth))
            finished.wait(sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=p.run, args=(deadline,), daemon=True) for p in people]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        # Users stop at the deadline; the guard covers one request still in flight.
        thread.join(timeout=max(0.0, deadline - time.perf_counter()) + REQUEST_GUARD_S)
    result.wall = time.perf_counter() - start
    finished.set()
    sampler.join(timeout=10)
    if any(t.is_alive() for t in threads):
        result.notes.append("some users were still waiting for a reply after the guard")
    for person in people:
        person.client.close()
    return result


# -- output ---------------------------------------------------------------------------------------

def _f(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


def markdown_main(result: LoadResult) -> str:
    s = result.summary()
    lines = [
        f"### {result.users} users for {s['seconds']} s",
        "",
        "| requests | failures | throughput (req/s) | RSS first third (MB) | RSS last third (MB) | RSS max (MB) "
        "| RSS trend, last half (MB/min) | max queue |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['requests']} | {s['failures']} | {s['throughput_rps']:.3f} | {s['rss_mb_first_third']} | "
        f"{s['rss_mb_last_third']} | {s['rss_mb_max']} | {_f(s['rss_mb_per_min_last_half'])} | {s['queue_max']} |",
        "",
        "| endpoint | ok requests | p50 (s) | p95 (s) | max (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for endpoint, lat in s["latency"].items():
        lines.append(f"| {endpoint} | {lat['n']} | {_f(lat['p50'])} | {_f(lat['p95'])} | {_f(lat['max'])} |")
    if s["errors"]:
        lines += ["", "Errors: " + "; ".join(s["errors"])]
    return "\n".join(lines)


def markdown_sweep(results: list[LoadResult]) -> str:
    lines = [
        "| users | requests | failures | throughput (req/s) | p50 all (s) | p95 all (s) | max queue |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = r.latency()
        lines.append(f"| {r.users} | {len(r.calls)} | {len(r.failures)} | {r.throughput:.3f} | "
                     f"{_f(lat['p50'])} | {_f(lat['p95'])} | {max((q for _, q in r.queue), default=0)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 users for 20 s, sweep steps of 10 s.")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--sweep-seconds", type=float, default=30.0)
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here.")
    args = parser.parse_args(argv)
    seconds, sweep_seconds = (20.0, 10.0) if args.quick else (args.seconds, args.sweep_seconds)
    with tempfile.TemporaryDirectory(prefix="coach-load-") as tmp:
        started = time.perf_counter()
        with served(Path(tmp)) as server:
            print(f"server up in {time.perf_counter() - started:.1f} s at {server.url}", file=sys.stderr)
            warm_up(server)
            main_run = run_load(server, args.users, seconds)
            print(markdown_main(main_run), flush=True)
            sweep: list[LoadResult] = []
            if not args.no_sweep:
                for n in SWEEP_USERS:
                    sweep.append(run_load(server, n, sweep_seconds))
                    print(f"sweep: {n} users done\n" + markdown_sweep(sweep[-1:]), file=sys.stderr, flush=True)
                print("\n### Concurrency sweep\n\n" + markdown_sweep(sweep), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"main": main_run.summary(),
                                         "sweep": [r.summary() for r in sweep],
                                         "rss": main_run.rss_mb, "queue": main_run.queue}, indent=2))
    return 1 if main_run.failures or any(r.failures for r in sweep) else 0


if __name__ == "__main__":
    sys.exit(main())
