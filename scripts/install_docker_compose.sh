#!/usr/bin/env bash
# Install Debian's docker-compose (v1, Python) so `docker-compose config` can validate
# docker-compose.yml; no Docker daemon is needed for `config`. Idempotent: does nothing
# when docker-compose is already on PATH. Needs root (apt-get).
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_docker_compose.sh: apt-get not found; install docker-compose by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing in a fresh container: update only when the install fails.
if ! apt-get install -y --no-install-recommends docker-compose >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y --no-install-recommends docker-compose >/dev/null
fi
command -v docker-compose >/dev/null
