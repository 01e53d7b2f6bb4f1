#!/usr/bin/env bash
# The whole test suite, with all set-up, on a fresh machine:   bash scripts/test.sh
#
# 1. installs Debian's chromium + chromium-driver when missing (browser tests; never a browser
#    download of a test tool's own),
# 2. creates .venv and installs the pinned requirements-dev.txt into it,
# 3. runs ruff (lint + format check) and pytest (unit, HTTP integration, browser, deploy).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "==> installing Debian chromium + chromium-driver"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing pinned requirements"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> pytest"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
