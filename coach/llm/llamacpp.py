"""llama.cpp (llama-cpp-python) on a GGUF file: quantized weights, CPU threads.

The only module that imports llama_cpp, and only on first use, so the rest of
the program (and the unit tests) never pays for or depends on the native build.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from coach.errors import ModelError
from coach.llm.base import MODEL_BUSY_TIMEOUT_S, ChatMessage, GenerationConfig, acquire_model

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class LlamaCppOptions:
    """Runtime knobs; the defaults are the ones bench_llm.py measured fastest here.

    `weights`: None runs the file's own quantization; a llama.cpp type name such
    as "Q8_0" converts the file once into the cache dir and runs that instead.
    """

    n_batch: int = 512
    n_ubatch: int = 512
    # Flash attention: exact attention computed in tiles; measured here with Q8_0, prompts 15%
    # faster (600 tokens 2.18 -> 1.83 s) and decode ~10% faster (63 -> 71 tok/s).
    flash_attn: bool = True
    # Q8_0: llama.cpp has batched (GEMM) CPU kernels for it but not for the packaged Q4_1,
    # so prompts evaluate ~1.4x faster; converting 4-bit weights to 8-bit loses nothing.
    weights: str | None = "Q8_0"
    warmup: bool = True  # one tiny eval at load, so the first question does not pay for buffer setup

    @classmethod
    def library_defaults(cls) -> LlamaCppOptions:
        """llama-cpp-python's own defaults: the benchmark's anchor."""
        return cls(n_batch=512, n_ubatch=512, flash_attn=False, weights=None, warmup=False)


def check_gguf(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"GGUF model file {path} does not exist. Set llm_model to 'packaged' or to a local .gguf file.")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelError(f"{path} is not a GGUF file (llama.cpp needs .gguf weights). Set llm_model to a .gguf file or an HF folder with llm_backend 'transformers'.")
    return path


def import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelError(
            f"llama-cpp-python is not installed or cannot load ({exc}). Run `scripts/build_llamacpp.sh <venv>` "
            "or set llm_backend to 'transformers'."
        ) from None
    return llama_cpp


class LlamaCppLLM:
    """One llama.cpp context per process; calls are serialised by a lock because a
    context is not thread-safe. The context keeps the previous prompt's KV cache,
    so a new prompt that shares a prefix (the system prompt) only evaluates the rest."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int,
        context: int = 2048,
        cache_dir: Path | None = None,
        options: LlamaCppOptions = LlamaCppOptions(),
        busy_timeout_s: float = MODEL_BUSY_TIMEOUT_S,
    ):
        self.model_path = Path(model_path)
        self.threads = threads
        self.context = context
        self.cache_dir = cache_dir
        self.options = options
        self.busy_timeout_s = busy_timeout_s
        suffix = f"@{options.weights}" if options.weights else ""
        self.name = f"llamacpp:{self.model_path.stem}{suffix}"
        self._llama = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one generation at a time; count_tokens does not need it

    def load(self) -> LlamaCppLLM:
        with self._load_lock:
            if self._llama is None:
                self._llama = self._build()
        return self

    def _build(self):
        source = check_gguf(self.model_path)
        llama_cpp = import_llama_cpp()
        path = source if not self.options.weights else convert_gguf(source, self.options.weights, self._cache())
        opts = self.options
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self.context,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_batch=opts.n_batch,
                n_ubatch=opts.n_ubatch,
                flash_attn=opts.flash_attn,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp cannot load {path}: {exc}") from None
        if opts.warmup:
            llama.eval(llama.tokenize(b"Hello", add_bos=True))
            llama.reset()
        return llama

    def _cache(self) -> Path:
        if self.cache_dir is None:
            raise ModelError("Converting GGUF weights needs a cache directory (the index dir).")
        return self.cache_dir

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> str:
        with closing(self.stream(messages, config)) as pieces:
            return "".join(pieces)

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        """Holds the model from the first piece until the stream ends or is closed: a caller
        that stops reading early must close it (contextlib.closing)."""
        self.load()
        return self._stream(list(messages), config)

    def _stream(self, messages: list[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        acquire_model(self._lock, self.busy_timeout_s, self.name)
        try:
            chunks = self._llama.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=config.max_tokens,
                temperature=config.temperature,
                seed=config.seed,
                stop=list(config.stop) or None,
                stream=True,
            )
            with closing(chunks):
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
        finally:
            self._lock.release()

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def convert_gguf(source: Path, weights: str, cache_dir: Path) -> Path:
    """Re-quantize `source` to `weights` (e.g. Q8_0) once; later starts reuse the file.

    Why: llama.cpp's batched CPU matmul kernels cover Q8_0/Q4_0 but not every
    type, and prompt processing dominates time to first token on RAG prompts.
    """
    llama_cpp = import_llama_cpp()
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{weights.upper()}", None)
    if ftype is None:
        raise ModelError(f"Unknown llama.cpp weight type {weights!r} (try Q8_0 or Q4_0).")
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{weights}".encode()).hexdigest()[:12]
    target = cache_dir / f"{source.stem}.{weights.upper()}.{key}.gguf"
    if target.is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"Cannot create the model cache folder {cache_dir}: {exc}") from None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True  # the source is already quantized
    params.nthread = max(1, os.cpu_count() or 1)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    from llama_cpp._utils import suppress_stdout_stderr  # the C code prints every tensor

    with suppress_stdout_stderr(disable=False):
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if status != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not convert {source} to {weights} (status {status}).")
    os.replace(partial, target)  # atomic: a concurrent start never sees half a file
    return target


def probe(model_path: Path, threads: int) -> str:
    """A few greedy tokens; run in a child process by the factory, because a native
    build that does not suit this CPU dies with SIGILL/SIGSEGV rather than raising."""
    llm = LlamaCppLLM(model_path, threads=threads, context=256, options=LlamaCppOptions(weights=None, warmup=False))
    return llm.generate([ChatMessage("user", "Say hi.")], GenerationConfig(max_tokens=4))


if __name__ == "__main__":  # python -m coach.llm.llamacpp MODEL.gguf THREADS
    import sys

    print(repr(probe(Path(sys.argv[1]), int(sys.argv[2]))))


__all__ = ["LlamaCppLLM", "LlamaCppOptions", "check_gguf", "convert_gguf", "probe"]
