#!/usr/bin/env bash
# Build llama-cpp-python once with CPU flags chosen from /proc/cpuinfo and install it into a venv.
#
#   scripts/build_llamacpp.sh VENV_DIR
#
# Why not the PyPI sdist's default build: it compiles with GGML_NATIVE, which enables AMX
# kernels on CPUs that report AMX, and that matmul path has crashed (SIGSEGV) for us. Here
# AMX is always off, and AVX-512 is on only if this CPU reports it. The wheel is cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/interview-coach/wheels/<hash of version+flags>/, so later
# runs only reinstall it. Exits non-zero with a message if the build fails (the Makefile then
# falls back to the transformers backend).
set -euo pipefail

VERSION="0.3.36"
VENV="${1:?usage: $0 VENV_DIR}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "build_llamacpp: $PY not found; create the venv first." >&2; exit 2; }

has() { grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -qx "$1"; }

FLAGS="-DGGML_NATIVE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF"
for f in avx:AVX avx2:AVX2 fma:FMA f16c:F16C; do
  has "${f%%:*}" && FLAGS="$FLAGS -DGGML_${f##*:}=ON" || FLAGS="$FLAGS -DGGML_${f##*:}=OFF"
done
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
  FLAGS="$FLAGS -DGGML_AVX512=ON"
  has avx512vbmi && FLAGS="$FLAGS -DGGML_AVX512_VBMI=ON"
  has avx512_vnni && FLAGS="$FLAGS -DGGML_AVX512_VNNI=ON"
  has avx512_bf16 && FLAGS="$FLAGS -DGGML_AVX512_BF16=ON"
else
  FLAGS="$FLAGS -DGGML_AVX512=OFF"
  has avx_vnni && FLAGS="$FLAGS -DGGML_AVX_VNNI=ON"
fi

KEY=$(printf '%s|%s|%s' "$VERSION" "$FLAGS" "$("$PY" -c 'import sys; print(sys.version_info[:2])')" | sha256sum | cut -c1-16)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/interview-coach/wheels/$KEY"
WHEEL=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)

if [ -z "$WHEEL" ]; then
  echo "build_llamacpp: building llama-cpp-python $VERSION with: $FLAGS (several minutes)" >&2
  command -v cmake >/dev/null || "$PY" -m pip install --quiet cmake ninja
  mkdir -p "$CACHE"
  # --no-cache-dir: pip's wheel cache is keyed by the sdist URL, not by CMAKE_ARGS, and
  # would hand back a wheel built with other flags.
  if ! CMAKE_ARGS="$FLAGS" "$PY" -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
        -w "$CACHE" "llama-cpp-python==$VERSION" >"$CACHE/build.log" 2>&1; then
    echo "build_llamacpp: the build failed; see $CACHE/build.log. Use llm_backend=transformers." >&2
    exit 1
  fi
  WHEEL=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl | head -n1)
  printf '%s\n' "$FLAGS" >"$CACHE/flags.txt"
fi

"$PY" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
# Its pure-Python dependencies (numpy, jinja2, diskcache, typing-extensions) come from pyproject.
"$PY" -c "import llama_cpp" || { echo "build_llamacpp: the installed wheel does not import." >&2; exit 1; }
echo "build_llamacpp: installed $WHEEL"
