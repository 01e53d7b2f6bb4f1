#!/usr/bin/env bash
# The run command:   bash scripts/run.sh        (same as ./run)
#
# Makes .venv with the locked requirements.txt on the first run (scripts/venv.sh: needs
# python3 >= 3.11 with venv, which Debian/Ubuntu ship as python3-venv; never installs into a
# system interpreter), then starts the dashboard with `python app.py`: demo data without an
# OCS key, no sign-in, http://127.0.0.1:8050 (PORT=8051 to change). Later runs skip straight to
# the start; .venv is remade when its Python is too old or requirements.txt changed.
# Extra arguments go to app.py.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh

ensure_venv runtime
exec .venv/bin/python app.py "$@"
