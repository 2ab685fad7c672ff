#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/e2e/test_browser.py).
# Idempotent: does nothing when /usr/bin/chromium already exists.
# Exit codes: 0 installed (or already there), 3 apt-get is not available, other: apt failed.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get is not available; install chromium by hand (/usr/bin/chromium)" >&2
  exit 3
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install chromium" >&2; exit 3; }
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh container has empty package lists: update only when chromium is not known yet.
if ! apt-cache show chromium >/dev/null 2>&1; then
  $SUDO apt-get update -q
fi
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
test -x /usr/bin/chromium
