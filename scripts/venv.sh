# shellcheck shell=bash
# The project's virtual environment, shared by scripts/run.sh and scripts/test.sh (sourced).
#
# ensure_venv runtime|dev   makes .venv hold exactly the locked requirements:
#   * .venv/.locked records the Python version and the sha256 of requirements.txt (and of
#     requirements-dev.txt once the dev tools are in); it is written last, so a half-made
#     .venv (no ensurepip, a failed download) has none and is made again;
#   * a Python older than MIN_PYTHON, a changed requirements.txt or a changed
#     requirements-dev.txt rebuilds .venv from scratch (no stale packages);
#   * nothing is ever installed into a system interpreter: pip runs from .venv/bin.
# The Python: $PYTHON, else the first of python3, python3.13, python3.12, python3.11 that is
# at least MIN_PYTHON.

MIN_PYTHON="3.11"
VENV=".venv"
STAMP="$VENV/.locked"

say() { printf '%s\n' "$*"; }
fail() {
  printf '%s\n' "$*" >&2
  exit 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# A Python at least MIN_PYTHON: prints its command, or nothing.
find_python() {
  local candidate
  for candidate in ${PYTHON:-python3 python3.13 python3.12 python3.11}; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

python_ok() {
  "$1" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" 2>/dev/null
}

# The stamp .venv should carry for `kind` (runtime|dev).
wanted_stamp() {
  local version="$1" kind="$2"
  printf 'python=%s\nrequirements.txt=%s\n' "$version" "$(sha requirements.txt)"
  if [ "$kind" = dev ]; then printf 'requirements-dev.txt=%s\n' "$(sha requirements-dev.txt)"; fi
}

venv_is_current() {
  local kind="$1" version
  [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] || return 1
  python_ok "$VENV/bin/python" || return 1
  version="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null)" || return 1
  grep -qxF "python=$version" "$STAMP" || return 1
  grep -qxF "requirements.txt=$(sha requirements.txt)" "$STAMP" || return 1
  if [ "$kind" = dev ]; then
    grep -qxF "requirements-dev.txt=$(sha requirements-dev.txt)" "$STAMP" || return 1
  fi
  return 0
}

# Why .venv is being (re)made, for the progress line.
venv_reason() {
  if [ ! -e "$VENV" ]; then
    echo "creating $VENV"
  elif [ ! -x "$VENV/bin/python" ] || [ ! -f "$STAMP" ]; then
    echo "remaking $VENV (it was left half-made)"
  elif ! python_ok "$VENV/bin/python"; then
    echo "remaking $VENV (its Python is older than $MIN_PYTHON)"
  else
    echo "updating $VENV (the locked requirements changed)"
  fi
}

install_locked() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input "$@"
}

ensure_venv() {
  local kind="$1" python version file
  venv_is_current "$kind" && return 0
  # Only the dev tools are missing: add them (a superset of the runtime pins), keep the rest.
  if [ "$kind" = dev ] && venv_is_current runtime && ! grep -q '^requirements-dev.txt=' "$STAMP"; then
    say "==> installing the locked test tools (requirements-dev.txt) into $VENV"
    install_locked --require-hashes -r requirements-dev.txt || fail "pip could not install requirements-dev.txt (see above)"
    version="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
    wanted_stamp "$version" dev > "$STAMP"
    return 0
  fi
  python="$(find_python)" || fail "no Python $MIN_PYTHON or newer found (tried ${PYTHON:-python3 python3.13 python3.12 python3.11}); install one or set PYTHON=/path/to/python3.X"
  say "==> $(venv_reason) with $("$python" -c 'import platform; print("Python", platform.python_version())')"
  rm -rf "$VENV"
  if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    fail "$python cannot make a virtual environment: install python3-venv (Debian/Ubuntu: sudo apt-get install python3-venv)"
  fi
  file=requirements.txt
  if [ "$kind" = dev ]; then file=requirements-dev.txt; fi
  say "==> installing the locked requirements ($file) into $VENV"
  install_locked --require-hashes -r "$file" || fail "pip could not install $file (see above); run the command again when the network is back"
  version="$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
  wanted_stamp "$version" "$kind" > "$STAMP"
}
