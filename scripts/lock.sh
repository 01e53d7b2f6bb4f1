#!/usr/bin/env bash
# Re-lock the dependencies:   bash scripts/lock.sh
#
# requirements.in      -> requirements.txt      (runtime: what Heroku, Render and ./run install)
# requirements-dev.in  -> requirements-dev.txt  (tests, lint, benchmark; includes the runtime pins)
#
# pip-compile (pip-tools, in its own throw-away venv under .venv-tools/) pins every package,
# direct and indirect, with the hashes of its files. Versions already in the .txt files are kept
# unless the .in files ask for something else; `bash scripts/lock.sh --upgrade` moves everything
# to the newest allowed versions. Run it after adding, removing or changing a line in a .in file;
# tests/test_requirements.py fails when an imported package is missing from the .in files.
# Locks for the Python of .python-version (the deployed one), as python3.X or $PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_TOOLS_VERSION=7.6.2
want="$(tr -d '[:space:]' < .python-version)"
PYTHON="${PYTHON:-python$want}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "lock: $PYTHON not found (the lock is made with the deployed Python $want; set PYTHON=...)" >&2
  exit 1
fi
tools=.venv-tools
if [ ! -x "$tools/bin/pip-compile" ] || ! "$tools/bin/pip-compile" --version 2>/dev/null | grep -q "$PIP_TOOLS_VERSION"; then
  rm -rf "$tools"
  "$PYTHON" -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"
fi

compile() {
  CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" \
  "$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
    --resolver=backtracking "$@"
}
compile "${@}" --output-file requirements.txt requirements.in
compile "${@}" --output-file requirements-dev.txt requirements-dev.in
echo "locked: requirements.txt ($(grep -c '==' requirements.txt) packages), requirements-dev.txt ($(grep -c '==' requirements-dev.txt) packages)"
