"""A short load run for CI: the real `coach serve` (packaged models) under 20 concurrent
gradio_client users doing chat and interview turns for ~20 s. Asserts zero failed requests,
a bounded queue and bounded memory growth; timings are printed, never asserted.
The full run with figures is `python -m benchmarks.bench_load` (see docs/reliability.md)."""

from __future__ import annotations

import pytest

pytest.importorskip("gradio_client")
pytest.importorskip("psutil")

from benchmarks.bench_load import markdown_main, run_load, served, warm_up  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.slow]

USERS = 20
SECONDS = 20.0
# Generous on purpose: the point is "no leak per request", not a tight budget. Models load at
# start and warm_up() builds what the engine builds on first use, so growth here is per-request state.
MAX_GROWTH = 1.5


def test_twenty_users_for_twenty_seconds_without_a_failure(tmp_path):
    with served(tmp_path) as server:
        warm_up(server)
        result = run_load(server, USERS, SECONDS)
        print("\n" + markdown_main(result))
        assert server.process.poll() is None, server.log_tail()
        log = server.log.read_text(errors="replace")
    assert result.calls, "no request completed"
    assert not result.failures, sorted({c.error for c in result.failures})
    assert {c.endpoint for c in result.calls} <= {"/chat", "/interview_start", "/interview_answer"}
    # Each user has at most one request in flight, so the queue can never hold more than USERS.
    assert max((q for _, q in result.queue), default=0) <= USERS
    first, last = result.memory_thirds()
    assert last <= first * MAX_GROWTH, (first, last)
    assert "Traceback" not in log, log[-3000:]
