#!/usr/bin/env bash
# Set everything up (first run: system packages, .venv, Python packages) and start the kiosk.
# Extra arguments go to `kiosk run`, e.g. ./run.sh --windowed
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh run
exec .venv/bin/kiosk run "$@"
