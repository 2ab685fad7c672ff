"""transformers on CPU, from a GGUF file or a local HF folder, strictly offline.

A GGUF is dequantized to `dtype` on load, and rebuilding its tokenizer is slow,
so the converted model and tokenizer are saved once (safetensors, never pickle)
under `cache_dir` and later starts load that folder. The only module that
imports torch or transformers.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path

from coach.errors import ModelError
from coach.llm.base import MODEL_BUSY_TIMEOUT_S, ChatMessage, GenerationConfig, acquire_model, apply_stops

DTYPES = ("bfloat16", "float32")
STREAM_TIMEOUT_S = 300.0  # a stuck generation thread surfaces as an error, not a hung page


def _offline() -> None:
    # Before importing transformers: a missing file must fail at once, not after hub retries.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" bars would land in the app's log


def _cached_folder(gguf: Path, dtype: str, cache_dir: Path) -> Path:
    import transformers

    stat = gguf.stat()
    key = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{dtype}|{transformers.__version__}"
    return cache_dir / f"{gguf.stem}-{dtype}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class TransformersLLM:
    def __init__(self, model: Path, *, threads: int, dtype: str = "bfloat16", cache_dir: Path | None = None,
                 busy_timeout_s: float = MODEL_BUSY_TIMEOUT_S):
        if dtype not in DTYPES:
            raise ModelError(f"transformers dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
        self.model_path = Path(model).expanduser()
        self.threads = threads
        self.dtype = dtype
        self.cache_dir = cache_dir
        self.busy_timeout_s = busy_timeout_s
        self.name = f"transformers:{self.model_path.stem if self.model_path.suffix == '.gguf' else self.model_path.name}@{dtype}"
        self._model = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one generation at a time; count_tokens does not need it

    # Loading ---------------------------------------------------------------

    def load(self) -> TransformersLLM:
        with self._load_lock:
            if self._model is None:
                self._model, self._tokenizer = self._build()
        return self

    def _build(self):
        _offline()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(self.threads)
        folder = self._resolve_folder()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                str(folder), dtype=getattr(torch, self.dtype), local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"transformers cannot load the model in {folder}: {exc}") from None
        model.eval()
        return model, tokenizer

    def _resolve_folder(self) -> Path:
        path = self.model_path
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelError(f"{path} is not a Hugging Face model folder (no config.json).")
            return path
        if path.suffix != ".gguf" or not path.is_file():
            raise ModelError(f"Model {path} is neither a .gguf file nor a Hugging Face model folder.")
        if self.cache_dir is None:
            raise ModelError("Loading a GGUF with transformers needs a cache directory (the index dir).")
        folder = _cached_folder(path, self.dtype, self.cache_dir)
        if not (folder / "config.json").is_file():
            self._convert(path, folder)
        return folder

    def _convert(self, gguf: Path, folder: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        partial = folder.with_name(folder.name + f".{os.getpid()}.partial")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=getattr(torch, self.dtype), local_files_only=True
            )
            # The weights are dense now, but the GGUF quantizer stays attached and refuses to
            # save; detached, the model saves and reloads as a plain dense checkpoint.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            tokenizer.save_pretrained(str(partial))
            model.save_pretrained(str(partial), safe_serialization=True)
            if folder.exists():  # another process won the race; keep its copy
                shutil.rmtree(partial, ignore_errors=True)
            else:
                os.replace(partial, folder)
        except (OSError, ValueError, RuntimeError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ModelError(f"transformers cannot convert {gguf}: {exc}") from None

    # Generation ------------------------------------------------------------

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
            yield from self._generate_locked(messages, config)
        finally:
            self._lock.release()

    def _generate_locked(self, messages: list[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        halt = threading.Event()

        class _Halt(StoppingCriteria):  # lets the consumer end generation early (stop sequence, closed stream)
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool)

        inputs = self._tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=True, return_tensors="pt", return_dict=True,
        )
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_TIMEOUT_S
        )
        sampling = (
            dict(do_sample=True, temperature=config.temperature)
            if config.temperature > 0
            else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        )
        failure: list[BaseException] = []

        def run() -> None:
            try:
                if config.temperature > 0:
                    torch.manual_seed(config.seed)
                with torch.inference_mode():
                    self._model.generate(
                        **inputs, max_new_tokens=config.max_tokens, streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Halt()]),
                        pad_token_id=self._tokenizer.eos_token_id, **sampling,
                    )
            except BaseException as exc:  # re-raised in the consumer's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="coach-transformers-generate", daemon=True)
        worker.start()
        try:
            yield from apply_stops(iter(streamer), config.stop)
        except queue.Empty:
            raise ModelError(f"transformers produced nothing for {STREAM_TIMEOUT_S:.0f} s.") from None
        finally:
            halt.set()
            worker.join()
        if failure:
            raise ModelError(f"transformers generation failed: {failure[0]}") from failure[0]

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer.encode(text, add_special_tokens=False))


__all__ = ["TransformersLLM", "DTYPES"]
