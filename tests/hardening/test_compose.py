"""docker-compose.yml and the Dockerfile: valid for docker-compose (`config`, with and without
the bigger-model profile), and safe by construction: volumes for the index and the data, a
healthcheck, a non-root user, the host port on 127.0.0.1 only, an OpenAI-compatible model
server the app can be pointed at, and no paths from the build machine in the image."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from coach.config import REPO_ROOT, load_settings

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
INSTALLER = REPO_ROOT / "scripts" / "install_docker_compose.sh"
GUARD_S = 600


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """docker-compose on PATH, installed once per session with Debian's package if missing."""
    found = shutil.which("docker-compose")
    if found is None:
        done = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=GUARD_S)
        found = shutil.which("docker-compose")
        if found is None:
            pytest.skip(f"docker-compose is not installed and {INSTALLER.name} could not install it: "
                        f"{done.stderr.strip()[-400:]}")
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def app(compose) -> dict:
    return compose["services"]["coach"]


def _config(docker_compose: str, *extra: str) -> dict:
    done = subprocess.run([docker_compose, "-f", str(COMPOSE), *extra, "config"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=GUARD_S, env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.mark.slow
def test_docker_compose_accepts_the_file(docker_compose):
    resolved = _config(docker_compose)
    assert "coach" in resolved["services"]


@pytest.mark.slow
def test_docker_compose_accepts_the_bigger_model_profile(docker_compose):
    resolved = _config(docker_compose, "--profile", "bigger-model")
    assert {"coach", "llm-server"} <= set(resolved["services"])


def test_the_app_keeps_index_and_data_in_volumes(compose, app):
    targets = {str(v).split(":")[1] for v in app["volumes"]}
    env = app["environment"]
    assert env["COACH_INDEX_DIR"] in targets and env["COACH_DATA_DIR"] in targets
    named = {str(v).split(":")[0] for v in app["volumes"]}
    assert named <= set(compose.get("volumes") or {}), "named volumes survive `docker compose down`"


def test_the_app_has_a_healthcheck_on_its_own_port(app):
    check = app["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert "127.0.0.1:7860" in " ".join(check["test"])
    assert check.get("retries", 0) >= 1 and check.get("start_period")


def test_the_app_runs_as_a_non_root_user_on_a_read_only_root(app):
    user = str(app.get("user", ""))
    assert user and user.split(":")[0] not in ("0", "root")
    assert app.get("read_only") is True and "/tmp" in app.get("tmpfs", [])


def test_the_host_port_is_published_on_loopback_only(app):
    for port in app["ports"]:
        assert str(port).startswith("127.0.0.1:"), port
    # Inside the container the app must listen on all interfaces for the published port to reach it.
    assert app["environment"]["COACH_HOST"] == "0.0.0.0"


def test_the_bigger_model_server_is_openai_compatible_and_optional(compose, app):
    server = compose["services"]["llm-server"]
    assert server["profiles"] == ["bigger-model"]
    assert "llama.cpp:server" in server["image"] or "vllm" in server["image"] or "text-generation" in server["image"]
    assert "ports" not in server, "the model server is reachable from the app's network only"
    port = re.search(r"--port['\", ]+(\d+)", str(server["command"])).group(1)
    env = app["environment"]
    assert "COACH_LLM_BACKEND" in env and "COACH_LLM_BASE_URL" in env
    # The documented way to point the app at it is a valid configuration of the app.
    settings = load_settings(environ={"COACH_LLM_BACKEND": "openai",
                                      "COACH_LLM_BASE_URL": f"http://llm-server:{port}/v1"})
    assert settings.llm_backend == "openai" and settings.llm_base_url.endswith(f":{port}/v1")
    assert f"http://llm-server:{port}/v1" in COMPOSE.read_text(encoding="utf-8")


def test_the_openai_backend_is_the_one_the_compose_file_names():
    from coach.llm import openai_http

    assert callable(openai_http.OpenAIChatLLM)


def test_compose_environment_names_only_known_settings(app):
    """A misspelt COACH_ variable would stop the app at start (unknown settings are rejected)."""
    env = {k: "x" for k in app["environment"] if k.startswith("COACH_")}
    from coach.config import _FIELDS  # the list of settings is the contract

    assert {k[6:].lower() for k in env} <= set(_FIELDS)


def test_the_dockerfile_has_no_build_machine_paths():
    text = DOCKERFILE.read_text(encoding="utf-8")
    for path in ("/work", "/tmp/venv", "/opt/wheels", "/root/", "/home/"):
        assert path not in text, path


def test_the_dockerfile_runs_as_a_non_root_user():
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0", "0:0")


def test_the_dockerfile_points_at_the_corpus_it_copies():
    """The package is installed non-editable in the image, so the default corpus path would be
    inside site-packages; the image must set COACH_CORPUS_PATH to the copied corpus."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    match = re.search(r"COACH_CORPUS_PATH=(\S+)", text)
    assert match and match.group(1).startswith("/app/")
    assert re.search(r"^WORKDIR\s+/app\b", text, flags=re.MULTILINE) and re.search(r"^COPY .* \. /app", text, re.MULTILINE)
