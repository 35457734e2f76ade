#!/usr/bin/env bash
# Run a command with what the tests expect around them: a virtual X display
# (Xvfb) when there is no screen. Offline: no model is fetched from a hub.
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
# A PulseAudio daemon for the real-audio tests (null sinks as speaker and microphone).
if command -v pulseaudio >/dev/null && ! pactl info >/dev/null 2>&1; then
  pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit=yes --log-target=stderr >/dev/null 2>&1 || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do pactl info >/dev/null 2>&1 && break; sleep 0.3; done
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  exec xvfb-run -a -s "-screen 0 1920x1920x24" "$@"
fi
exec "$@"
