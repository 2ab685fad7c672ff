from pathlib import Path

import pytest

from coach.config import as_dict, load_settings
from coach.errors import ConfigError


def test_defaults_work_offline_with_packaged_models():
    settings = load_settings(environ={})
    assert settings.embedding_model == "packaged" and settings.llm_model == "packaged"
    assert settings.llm_backend == "auto" and settings.host == "127.0.0.1"
    assert hash(settings) == hash(load_settings(environ={}))  # usable as a cache key


def test_precedence_file_then_env_then_overrides(tmp_path: Path):
    config = tmp_path / "coach.toml"
    config.write_text('[coach]\nport = 9000\nretrieval_k = 3\nllm_backend = "transformers"\n')
    env = {"COACH_CONFIG": str(config), "COACH_PORT": "9100"}
    settings = load_settings(environ=env, overrides={"retrieval_k": 7})
    assert settings.port == 9100  # env beats file
    assert settings.retrieval_k == 7  # override beats both
    assert settings.llm_backend == "transformers"  # file beats default


def test_unknown_keys_are_rejected_everywhere(tmp_path: Path):
    with pytest.raises(ConfigError, match="COACH_"):
        load_settings(environ={"COACH_PROT": "1"})
    config = tmp_path / "c.toml"
    config.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_settings(environ={"COACH_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="nope"):
        load_settings(environ={}, overrides={"nope": 1})


def test_bad_values_are_clear_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="port.*int"):
        load_settings(environ={"COACH_PORT": "eighty"})
    with pytest.raises(ConfigError, match="llm_backend"):
        load_settings(environ={"COACH_LLM_BACKEND": "gpt"})
    with pytest.raises(ConfigError, match="llm_base_url"):
        load_settings(environ={"COACH_LLM_BACKEND": "openai"})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={"COACH_CONFIG": str(broken)})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"COACH_CONFIG": str(tmp_path / "missing.toml")})


def test_replace_and_snapshot_masks_secrets():
    settings = load_settings(environ={"COACH_AUTH": "ann:secret", "COACH_LLM_API_KEY": "sk-1"})
    changed = settings.replace(port=1234)
    assert changed.port == 1234 and changed.auth == "ann:secret"
    snapshot = as_dict(settings)
    assert snapshot["auth"] == "***" and snapshot["llm_api_key"] == "***"
    assert "secret" not in str(snapshot)
