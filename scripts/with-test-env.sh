#!/usr/bin/env bash
# Run a command with what the tests expect around them: a virtual X display
# (Xvfb) when there is no screen. Offline: no model is fetched from a hub.
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  exec xvfb-run -a -s "-screen 0 1920x1920x24" "$@"
fi
exec "$@"
