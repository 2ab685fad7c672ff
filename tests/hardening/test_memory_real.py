"""Memory stays flat when the real embedder sees batches of ever new shapes.

glibc's floating mmap threshold let tensor-sized blocks fragment the heap, and torch's oneDNN
keeps a kernel per input shape: a server embedding questions and answers of every length grew
by 520 MB over 800 random batches. `coach.process_tuning` fixes the threshold and bounds the
cache; this runs the packaged embedder in a fresh process (the settings apply at start-up) and
compares memory after the first and second half of the run. (With a 32 MB threshold, as glibc
drifts to, the second half grew 36 MB.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.model, pytest.mark.slow]

PROGRAM = r"""
import json, random, sys
import psutil
import coach
from coach.embed import SentenceTransformerEmbedder
embedder = SentenceTransformerEmbedder()
rnd = random.Random(0)
words = open(sys.argv[1], encoding="utf-8").read().split()
def batch():
    out = []
    for _ in range(rnd.randrange(1, 13)):
        start, n = rnd.randrange(len(words) - 200), rnd.randrange(5, 200)
        out.append(" ".join(words[start:start + n]))
    return out
rss = lambda: psutil.Process().memory_info().rss / 2**20
marks = []
calls = int(sys.argv[2])
for i in range(1, 2 * calls + 1):
    embedder.embed(batch())
    if i % calls == 0:
        marks.append(rss())
print(json.dumps(marks))
"""
CALLS = 60  # per half: the first half fills the kernel cache, the second must not grow
MAX_GROWTH_MB = 20  # measured: +4 MB with coach's settings, +36 MB with a 32 MB mmap threshold


def test_embedding_batches_of_new_shapes_does_not_grow_memory(tmp_path):
    from coach.config import REPO_ROOT

    guide = REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(guide), str(CALLS)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nRSS after each half of {2 * CALLS} batches: {first:.0f} / {second:.0f} MB")
    assert second - first <= MAX_GROWTH_MB, (first, second)
