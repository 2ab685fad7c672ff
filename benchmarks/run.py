"""Run every benchmark and record the results in docs/benchmarks.md.

`make bench` runs this. Each `benchmarks/bench_*.py` runs as its own process
(so memory figures are its own) and prints a Markdown section with its table. The page is rewritten with the machine,
the command and the date, so the figures always say where they came from.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    only = [a for a in argv if not a.startswith("--")]
    if only:
        names = [n for n in names if any(o in n for o in only)]
    sections = []
    first_commit, started_at = commit(), time.gmtime()  # what ran is the code at the start
    for name in names:
        print(f"== {name}", flush=True)
        started = time.time()
        command = [sys.executable, "-m", f"benchmarks.{name}"] + (["--quick"] if quick else [])
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        section = result.stdout.strip()
        if result.returncode != 0:
            section += f"\n\n**{name} failed** (exit {result.returncode}):\n```\n{result.stderr[-2000:]}\n```"
        print(section, flush=True)
        sections.append(f"{section}\n\n_{name} took {time.time() - started:.0f} s._")
    header = (
        "# Benchmarks\n\n"
        f"- Machine: {machine()}\n"
        f"- Command: `make bench` (`python -m benchmarks.run {' '.join(argv)}`)\n"
        f"- Commit: {first_commit}{'' if commit() == first_commit else f' (HEAD moved to {commit()} during the run)'}, "
        f"run started {time.strftime('%Y-%m-%d %H:%M UTC', started_at)}\n"
        "- Figures are medians over repeated runs unless a table says otherwise.\n"
    )
    if not only:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(header + "\n" + "\n\n".join(sections) + "\n", encoding="utf-8")
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
