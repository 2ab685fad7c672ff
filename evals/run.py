"""Run every evaluation and write a dated report: `make eval` (`python -m evals.run`).

Writes evals/reports/YYYY-MM-DD-HHMM-<commit>.md and .json (UTC time) with the machine,
commit, settings snapshot, model ids and index manifest hash, then one section per
evaluation. Per-item grades go to the folder of the same name (a batch report for each
graded dev set and one for Mohler). A section that fails is recorded with its error
and the run goes on; the exit code is then 1.

    python -m evals.run [--only retrieval,grading,grading_reference,grading_student,chat,latency,mohler] [--workers N]
                        [--mohler-limit N] [--chat-limit N] [--threads N]
                        [--budget-minutes M] [--out DIR]

Nothing is subsampled unless --mohler-limit or --chat-limit is given, or the chat section
(which runs last but one: the local LLM is the slow part) would overrun --budget-minutes;
the report then says what was sampled and why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coach.config import REPO_ROOT, as_dict, load_settings
from evals.sections import SECTIONS, EvalContext
from evals.write_report import render_markdown

REPORTS = REPO_ROOT / "evals" / "reports"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version = torch.__version__
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_version, torch_threads = "not installed", None
    import numpy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch_version,
        "torch_threads": torch_threads,
        "numpy": numpy.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def manifest_hash(manifest: dict) -> str:
    """sha256 of the index manifest as canonical JSON: names the exact index the figures came from."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def calibration_hash(coach: Any) -> str:
    """Names the grader's fitted weights, which change the scores as much as the code does."""
    calibration = getattr(coach.grader, "calibration", None)
    if calibration is None or not hasattr(calibration, "to_json"):
        return "unknown"
    return hashlib.sha256(json.dumps(calibration.to_json(), sort_keys=True).encode("utf-8")).hexdigest()[:16]


def run_section(name: str, fn: Callable[[EvalContext], dict[str, Any]], context: EvalContext) -> dict[str, Any]:
    print(f"== {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        result = fn(context)
        result.setdefault("status", "ok")
    except Exception as exc:  # a broken section is recorded and the others still run
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"   {name}: {result['status']} in {result['seconds']} s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--workers", type=int, default=1, help="threads grading batch rows at once")
    parser.add_argument("--chat-limit", type=int, default=0, help="answer only every k-th chat question, about N (reported)")
    parser.add_argument("--mohler-limit", type=int, default=0, help="grade only every k-th Mohler answer, about N (reported)")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where the dated report goes")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch and llama.cpp threads (0: their defaults, one per core); see docs/evaluation.md")
    parser.add_argument("--budget-minutes", type=float, default=15.0,
                        help="subsample the chat questions if answering all would end the run later (0: no limit)")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.threads:
        # Measured on the shared 2-core machine under load: with one thread per core, torch
        # (embedding) and llama.cpp (generation) spin-wait against the other processes and
        # run 10-20x slower than with one thread. The report records the setting.
        import torch

        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    deadline = time.monotonic() + args.budget_minutes * 60 if args.budget_minutes else None
    stamp = time.strftime("%Y-%m-%d-%H%M", time.gmtime())
    commit = git_commit()
    name = f"{stamp}-{commit['commit']}"
    work_dir = args.out / name
    settings = load_settings()
    if args.threads:
        settings = settings.replace(llm_threads=args.threads)

    from coach.wiring import build_coach

    coach = build_coach(settings)
    context = EvalContext(coach=coach, settings=settings, work_dir=work_dir, workers=args.workers,
                          mohler_limit=args.mohler_limit, chat_limit=args.chat_limit, deadline=deadline, evals_dir=REPO_ROOT / "evals")
    report: dict[str, Any] = {
        "title": f"Evaluation {stamp} UTC, commit {commit['commit']}",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m evals.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "budget_minutes": args.budget_minutes or None,
        "machine": machine(),
        "git": commit,
        "settings": as_dict(settings),
        "models": {"embedder": coach.embedder.model_id},
        "index": {"manifest_sha256": manifest_hash(coach.index.manifest), "status": coach.index_status,
                  "n_chunks": coach.index.manifest.get("n_chunks"), "corpus_hash": coach.index.manifest.get("corpus_hash")},
        "work_dir": str(work_dir),
        "sections": {},
    }
    for section in wanted:
        report["sections"][section] = run_section(section, SECTIONS[section], context)
    report["models"].update(context.model_ids)
    report["models"]["grader_calibration_sha256"] = calibration_hash(coach)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{name}.json"
    md_path = args.out / f"{name}.md"
    from coach.store import atomic_write_bytes

    atomic_write_bytes(json_path, (json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    atomic_write_bytes(md_path, render_markdown(report).encode("utf-8"))
    print(f"wrote {md_path} and {json_path} in {report['seconds']} s", file=sys.stderr)
    failed = [s for s, r in report["sections"].items() if r["status"] == "failed"]
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
