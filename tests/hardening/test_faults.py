"""Crashes and broken storage: a `coach eval` killed with SIGKILL resumes without losing or
duplicating rows; a damaged index is a clear error naming `coach index --rebuild`, and the
rebuild fixes it; a read-only or full data folder is a clear error; two processes building
the index at once leave one good index.

An interview killed mid-session is covered by the interview engineer's
tests/integration/test_interview_real.py::test_resume_after_the_process_is_killed (real
subprocess, SIGKILL, resume); it is not repeated here.

Every process here is a real `coach` subprocess with the fake models (COACH_* variables).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coach.config import load_settings
from coach.errors import IndexStoreError, StorageError
from tests.hardening.support import CLI_GUARD_S, assert_clean, coach_env, fake_overrides, run_coach

pytestmark = pytest.mark.slow

ROWS = 3000
KILL_AFTER_LINES = 25
POLL_GUARD_S = 300  # stops a test whose child never writes from hanging the suite


@pytest.fixture
def root(tmp_path) -> Path:
    """A folder with the fake index already built (by a real `coach index`)."""
    ran = run_coach(["index"], tmp_path)
    assert ran.returncode == 0, ran.stderr
    return tmp_path


def _answers_file(path: Path, rows: int) -> list[str]:
    ids = [f"row-{n:05d}" for n in range(rows)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer"])
        for n, row_id in enumerate(ids):
            q = [3, 4, 9, 12, 17][n % 5]
            writer.writerow([row_id, q, f"Answer {n}: it normalizes the batch and updates weights by the gradient, variant {n}."])
    return ids


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# -- kill -9 a batch evaluation -----------------------------------------------------------------------

def test_eval_killed_mid_batch_resumes_without_loss_or_duplicates(root):
    source = root / "answers.csv"
    ids = _answers_file(source, ROWS)
    out = root / "out"
    results = out / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "coach", "eval", str(source), "--out", str(out), "--json"],
                            cwd=root, env=coach_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + POLL_GUARD_S
    while _lines(results) < KILL_AFTER_LINES and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"`coach eval` finished ({proc.returncode}) before it could be killed; raise ROWS")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done_before = _lines(results)
    assert KILL_AFTER_LINES <= done_before < ROWS

    ran = run_coach(["eval", str(source), "--out", str(out), "--json"], root)
    assert_clean(ran)
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)["summary"]
    assert summary["n"] == ROWS
    assert summary["n_resumed"] >= done_before - 1  # at most a torn last line is graded again

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    reported = [item["id"] for item in report["items"]]
    assert sorted(reported) == ids, "every row exactly once"
    keys = [json.loads(line)["key"] for line in results.read_text(encoding="utf-8").splitlines() if line.strip().startswith("{")]
    assert set(keys) == {f"id:{i}" for i in ids}


# -- a damaged index ------------------------------------------------------------------------------------

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for n in range(0, len(data), 97):
        data[n] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name,damage", [("vectors.faiss", _truncate), ("vectors.faiss", _garble),
                                         ("chunks.json", _truncate), ("chunks.json", _garble)])
def test_a_damaged_index_names_the_rebuild_and_the_rebuild_fixes_it(root, name, damage):
    from coach.store import load_index

    damage(root / "index" / name)
    with pytest.raises(IndexStoreError, match=r"coach index --rebuild"):
        load_index(root / "index")

    ran = run_coach(["search", "batch normalization", "--json"], root)
    assert_clean(ran)
    assert ran.returncode == 2 and "coach index --rebuild" in ran.stderr, ran.stderr

    rebuilt = run_coach(["index", "--rebuild"], root)
    assert_clean(rebuilt)
    assert rebuilt.returncode == 0, rebuilt.stderr
    load_index(root / "index")  # verifies every checksum
    again = run_coach(["search", "batch normalization", "--json"], root)
    assert again.returncode == 0 and json.loads(again.stdout), again.stderr


def test_a_corrupt_manifest_is_rebuilt_not_trusted(root):
    (root / "index" / "manifest.json").write_bytes(b"\x00{not json")
    ran = run_coach(["index"], root)
    assert_clean(ran)
    assert ran.returncode == 0 and "index built" in ran.stdout, (ran.stdout, ran.stderr)


# -- read-only and full storage -------------------------------------------------------------------------

def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: cannot make a read-only or tiny file system here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.decode().strip()}")


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only file system: root's writes fail too (chmod alone would not stop root)."""
    where = tmp_path / "ro"
    _mount_tmpfs(where, "size=1m")
    (where / "data").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
    yield where
    _umount(where)


@pytest.fixture
def tiny_disk(tmp_path):
    where = tmp_path / "tiny"
    _mount_tmpfs(where, "size=64k")
    yield where
    _umount(where)


def test_read_only_data_dir_is_a_clear_error(root, read_only_dir):
    from coach.interview.db import InterviewDB

    with pytest.raises(StorageError, match="read-only"):
        InterviewDB(read_only_dir / "data" / "coach.sqlite3")
    env = coach_env(root, COACH_DATA_DIR=str(read_only_dir / "data"))
    ran = run_coach(["interview", "--user", "ro", "--length", "1"], root, stdin=b"an answer\n", env=env)
    assert_clean(ran)
    assert ran.returncode == 2 and "read-only" in ran.stderr, ran.stderr


def test_read_only_index_dir_is_a_clear_error(root, read_only_dir):
    env = coach_env(root, COACH_INDEX_DIR=str(read_only_dir / "index"))
    ran = run_coach(["index"], root, env=env)
    assert_clean(ran)
    assert ran.returncode == 2 and str(read_only_dir / "index") in ran.stderr, ran.stderr


def test_read_only_eval_output_is_a_clear_error(root, read_only_dir):
    source = root / "answers.csv"
    _answers_file(source, 3)
    ran = run_coach(["eval", str(source), "--out", str(read_only_dir / "data")], root)
    assert_clean(ran)
    assert ran.returncode == 2 and "writ" in ran.stderr, ran.stderr


def test_full_disk_building_the_index_is_a_clear_error(root, tiny_disk):
    env = coach_env(root, COACH_INDEX_DIR=str(tiny_disk / "index"))
    ran = run_coach(["index"], root, env=env)
    assert_clean(ran)
    assert ran.returncode == 2 and "disk space" in ran.stderr, ran.stderr
    assert not (tiny_disk / "index" / "manifest.json").exists(), "a half-written index is never marked complete"


def test_full_disk_during_eval_is_a_clear_error_and_resumable(root, tiny_disk):
    source = root / "answers.csv"
    ids = _answers_file(source, 400)
    out = tiny_disk / "out"
    ran = run_coach(["eval", str(source), "--out", str(out)], root)
    assert_clean(ran)
    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    assert "space" in ran.stderr.lower() or "full" in ran.stderr.lower(), ran.stderr
    assert str(out) in ran.stderr and "resume" in ran.stderr, ran.stderr
    # What was written is still readable and a re-run on a roomier folder finishes the job.
    roomy = root / "out"
    roomy.mkdir()
    if (out / "results.jsonl").exists():
        shutil.copy(out / "results.jsonl", roomy / "results.jsonl")
    again = run_coach(["eval", str(source), "--out", str(roomy), "--json"], root)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"]["n"] == len(ids)


def test_full_disk_in_the_interview_db_is_a_clear_error(root, tiny_disk):
    from coach.interview.db import InterviewDB

    filler = tiny_disk / "filler"
    try:
        with filler.open("wb") as handle:
            handle.write(b"\0" * 64 * 1024)
    except OSError:
        pass  # the disk is now full, as wanted
    with pytest.raises(StorageError, match="full|space|cannot|Cannot"):
        db = InterviewDB(tiny_disk / "coach.sqlite3")
        db.close()


# -- two builders at once -------------------------------------------------------------------------------

def test_two_processes_building_the_index_at_once_leave_one_good_index(tmp_path):
    from coach.store import load_index

    env = coach_env(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "coach", "index", "--rebuild"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outputs = [p.communicate(timeout=CLI_GUARD_S) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err
    index = load_index(tmp_path / "index")  # every checksum verified
    settings = load_settings(overrides=fake_overrides(tmp_path), environ={})
    assert index.manifest["n_chunks"] == len(index.chunks)
    assert not list((tmp_path / "index").glob(".*.tmp")), "no temp files left behind"
    # A reader during a concurrent build sees either the old or the new index, never a torn one.
    assert settings.index_dir == tmp_path / "index"


def test_a_reader_during_rebuilds_never_sees_a_torn_index(root):
    from coach.store import load_index

    env = coach_env(root)
    builder = subprocess.Popen([sys.executable, "-c", (
        "import subprocess,sys\n"
        "for _ in range(3):\n"
        "    subprocess.run([sys.executable,'-m','coach','index','--rebuild'],check=True,capture_output=True)\n")],
        cwd=root, env=env)
    seen_ok = 0
    deadline = time.monotonic() + POLL_GUARD_S
    while builder.poll() is None and time.monotonic() < deadline:
        try:
            load_index(root / "index")
            seen_ok += 1
        except IndexStoreError as exc:
            # Mid-build the manifest is removed first: "no index" or a checksum miss, never a crash.
            assert "coach index" in str(exc)
        time.sleep(0.02)
    builder.wait(timeout=CLI_GUARD_S)
    assert builder.returncode == 0
    load_index(root / "index")
