"""The process settings are applied on import of `coach`, and the user's own values win."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = ("import json, os, coach; print(json.dumps({k: os.environ.get(k) for k in "
         "('GOMP_SPINCOUNT', 'ONEDNN_PRIMITIVE_CACHE_CAPACITY')}))")


def _settings_seen(extra_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**env, **extra_env}, capture_output=True,
                         text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_importing_coach_bounds_the_kernel_cache_and_the_openmp_spin():
    assert _settings_seen({}) == {"GOMP_SPINCOUNT": "1000", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64"}


def test_values_the_user_set_are_kept():
    seen = _settings_seen({"GOMP_SPINCOUNT": "5", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"})
    assert seen == {"GOMP_SPINCOUNT": "5", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}
