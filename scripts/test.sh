#!/usr/bin/env bash
# The test command, with all set-up, on a fresh Debian/Ubuntu (as root or with sudo) or
# anywhere the needed tools are already installed:   bash scripts/test.sh
#
# 1. .venv with the locked requirements-dev.txt (scripts/venv.sh: remade when its Python is too
#    old or a locked requirements file changed; python3-venv installed when missing);
# 2. only what the SELECTED tests need (`pytest --collect-only` with your arguments tells):
#      browser tests -> Debian's chromium (or chromium-browser), never a downloaded browser;
#      hosted tests  -> PostgreSQL and Redis on 127.0.0.1 (ensure_services below);
#    anything it cannot install is named in one line, and the command exits 1;
# 3. ruff (lint + format check), then pytest with your arguments.
# E.g. `bash scripts/test.sh -m "not browser" -x` needs neither Chromium nor root.
# CI (.ci/run) runs `bash scripts/test.sh -q -ra`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh

# Where the hosted tests find their services (the ports are settings so this script can be
# tried on a machine whose 5432/6379 are taken: TEST_PG_PORT=55432 TEST_REDIS_PORT=56379).
PG_PORT="${TEST_PG_PORT:-5432}"
REDIS_PORT="${TEST_REDIS_PORT:-6379}"

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi

cannot() {
  printf 'test.sh: could not install %s\n' "$*" >&2
  exit 1
}

# apt-get install PACKAGE... (for WHAT); one line and exit 1 when that is impossible.
apt_install() {
  local what="$1"
  shift
  command -v apt-get >/dev/null 2>&1 ||
    cannot "$* ($what): no apt-get here; install them yourself, or deselect those tests"
  if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
    cannot "$* ($what): not root and no password-less sudo; run as root, install them yourself, or deselect those tests"
  fi
  say "==> installing $* ($what)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"; } >/tmp/test-sh-apt.log 2>&1; then
    cannot "$* ($what): apt-get failed (log: /tmp/test-sh-apt.log)"
  fi
}

# python3-venv (Debian/Ubuntu ship venv's pip separately) when .venv must be made and can't be.
ensure_venv_support() {
  local python probe
  venv_is_current dev && return 0
  python="$(find_python)" || return 0 # ensure_venv explains
  probe="$(mktemp -d)"
  if "$python" -m venv "$probe/v" >/dev/null 2>&1; then
    rm -rf "$probe"
    return 0
  fi
  rm -rf "$probe"
  local minor
  minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  apt_install "to make .venv" "python$minor-venv"
}

# The pytest markers of the tests these arguments select (one per line).
selected_markers() {
  local out
  out="$(mktemp)"
  if ! PYTEST_NEEDS_OUT="$out" "$VENV/bin/python" -m pytest -p no:cacheprovider -p scripts.pytest_needs \
    --collect-only -q "$@" >/dev/null 2>&1 && [ ! -s "$out" ]; then
    # collection failed before listing anything: assume everything (pytest will show the error)
    printf 'browser\nhosted\n' >"$out"
  fi
  cat "$out"
  rm -f "$out"
}

chromium_present() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

ensure_chromium() {
  chromium_present && return 0
  local package=chromium
  if command -v apt-cache >/dev/null 2>&1 && ! apt-cache show chromium >/dev/null 2>&1 &&
    apt-cache show chromium-browser >/dev/null 2>&1; then
    package=chromium-browser # Ubuntu's name
  fi
  apt_install "for the browser tests" "$package"
  chromium_present || cannot "$package (for the browser tests): installed, but no chromium command appeared"
}

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# PostgreSQL and Redis for the hosted tests: use the ones answering on 127.0.0.1, else install
# Debian's postgresql / redis-server and start a private, throw-away instance of each (a
# temporary data directory, stopped when this script ends).
SERVICES_DIR=""
stop_services() {
  [ -n "$SERVICES_DIR" ] || return 0
  if [ -f "$SERVICES_DIR/pg/postmaster.pid" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$SERVICES_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -f "$SERVICES_DIR/redis.pid" ]; then kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$SERVICES_DIR" 2>/dev/null || $SUDO rm -rf "$SERVICES_DIR"
  SERVICES_DIR=""
}
trap stop_services EXIT

pg_bin() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }

as_postgres() {
  # from / : the postgres user may not enter the project folder (e.g. under /root)
  if [ "$(id -u)" = "0" ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -n -u postgres "$@")
  fi
}

services_dir() {
  if [ -z "$SERVICES_DIR" ]; then
    SERVICES_DIR="$(mktemp -d /tmp/test-services.XXXXXX)"
    chmod 755 "$SERVICES_DIR"
  fi
}

start_postgres() {
  answers "$PG_PORT" && return 0
  [ -n "$(pg_bin)" ] || apt_install "for the hosted tests" postgresql
  # Debian's package may have started its own cluster on 5432.
  answers "$PG_PORT" && return 0
  [ -n "$(pg_bin)" ] || cannot "postgresql (for the hosted tests): installed, but no /usr/lib/postgresql/*/bin"
  services_dir
  local bin data="$SERVICES_DIR/pg"
  bin="$(pg_bin)"
  say "==> starting a throw-away PostgreSQL on 127.0.0.1:$PG_PORT"
  mkdir -p "$data" && chown postgres "$data" 2>/dev/null || $SUDO chown postgres "$data"
  as_postgres "$bin/initdb" -D "$data" -U postgres -A trust >/dev/null ||
    cannot "postgresql (for the hosted tests): initdb failed"
  as_postgres "$bin/pg_ctl" -D "$data" -w -l "$data/server.log" \
    -o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1" start >/dev/null ||
    cannot "postgresql (for the hosted tests): it did not start (log: $data/server.log)"
  as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres test ||
    cannot "postgresql (for the hosted tests): createdb test failed"
}

start_redis() {
  answers "$REDIS_PORT" && return 0
  command -v redis-server >/dev/null 2>&1 || apt_install "for the hosted tests" redis-server
  answers "$REDIS_PORT" && return 0
  services_dir
  say "==> starting a throw-away Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$SERVICES_DIR" --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" >/dev/null ||
    cannot "redis-server (for the hosted tests): it did not start"
  local waited=0
  until answers "$REDIS_PORT"; do
    waited=$((waited + 1))
    [ "$waited" -le 50 ] || cannot "redis-server (for the hosted tests): no answer on port $REDIS_PORT"
    sleep 0.1
  done
}

ensure_services() {
  start_postgres
  start_redis
  # where the hosted tests connect (ports: TEST_PG_PORT, TEST_REDIS_PORT)
  export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/test"
  export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
}

main() {
  ensure_venv_support
  ensure_venv dev
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

  if ! chromium_present || ! answers "$PG_PORT" || ! answers "$REDIS_PORT"; then
    local needs
    needs="$(selected_markers "$@")"
    if grep -qx browser <<<"$needs"; then ensure_chromium; fi
    if grep -qx hosted <<<"$needs"; then ensure_services; fi
  else
    ensure_services # both answer: only sets the URLs
  fi

  say "==> ruff"
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .

  say "==> pytest"
  local status=0
  .venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
  return "$status"
}

# `source scripts/test.sh` only defines the functions (tests/test_scripts.py uses them).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
