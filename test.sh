#!/usr/bin/env bash
# Set everything up (including test tools) and run the whole test suite.
# Extra arguments go to pytest, e.g. ./test.sh -k settings
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
exec scripts/with-test-env.sh .venv/bin/python -m pytest "$@"
