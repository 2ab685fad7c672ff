"""Process-wide settings for the native libraries under the coach, applied once at import.

Each one was measured on this project's 2-core machine; a value the user set in the
environment wins. Nothing here changes results, only speed and memory.
"""

from __future__ import annotations

import ctypes
import os

# OpenMP threads (llama.cpp's and torch's) spin at a barrier before they sleep. With OpenMP's
# default spin, two busy processes (the app and a test client, or chat beside an evaluation)
# each fell to 0.9 tokens/s; always sleeping (OMP_WAIT_POLICY=PASSIVE) cost 3x on an idle
# machine (68 -> 26 tok/s). A short spin keeps both: 66 tok/s idle, 24 each for two at once.
OPENMP_SPIN = "1000"
# glibc raises its mmap threshold each time a large block is freed (up to 32 MB), after which
# tensor-sized blocks come from the heap and fragment it. Embedding 800 random batches grew the
# process by 520 MB; with a fixed 1 MB threshold (and the cache below) by ~35 MB, no slower.
MMAP_THRESHOLD_BYTES = 1 << 20
# torch's oneDNN keeps a compiled kernel per input shape, up to 1,024, and every new batch of
# sentences has a new shape. 64 bounds what a long-running server keeps and measured as fast
# for the embedder; 0 (none) cost 45% on grading. The price is paid by the transformers LLM
# fallback (llama.cpp, the default, uses neither): one A/B of 3 runs each, 600-token prompt,
# first token 0.99 -> 1.49 s and decode 12.4 -> 11.3 tok/s (docs/llm-runtime.md).
ONEDNN_KERNEL_CACHE = "64"
_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h


def tune_process() -> None:
    """Set the above before torch or llama.cpp load their native libraries."""
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN)
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_KERNEL_CACHE)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # glibc read the user's own value at start-up
        _fix_mmap_threshold()


def _fix_mmap_threshold() -> None:
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library already loaded; glibc only
    except (OSError, AttributeError, TypeError):  # no such symbol (macOS), no CDLL(None) (Windows)
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


__all__ = ["tune_process"]
