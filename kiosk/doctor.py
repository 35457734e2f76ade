"""``kiosk doctor``: what this machine and this kiosk home can do, and what is missing.

Each check is a small function returning plain data, so the JSON report, the
human table and the admin app's health page share one source.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from core.errors import KioskError
from core.home import KioskHome
from core.models import ModelManager
from core.settings import Settings

# Python distributions the default install must provide, by role.
PACKAGES = {
    "PyQt6": "ui",
    "sounddevice": "audio",
    "vosk": "asr",
    "moonshine-voice": "asr",
    "pocketsphinx": "asr",
    "piper-tts": "tts",
    "onnx": "tts",
    "llama_cpp_python": "llm",
    "chromadb": "knowledge",
    "sqlite-utils": "knowledge",
    "sentence-transformers": "knowledge",
    "torch": "avatar",
    "fastapi": "admin",
}


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_packages() -> dict[str, dict[str, Any]]:
    return {name: {"version": package_version(name), "for": role} for name, role in PACKAGES.items()}


def check_audio() -> dict[str, Any]:
    """PortAudio devices as sounddevice sees them; never raises."""
    report: dict[str, Any] = {
        "portaudio": False,
        "inputs": [],
        "outputs": [],
        "default_input": None,
        "default_output": None,
        "pulseaudio": shutil.which("pactl") is not None and _pulse_running(),
        "error": None,
    }
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        report["error"] = f"sounddevice/PortAudio unavailable: {exc}"
        return report
    report["portaudio"] = True
    try:
        devices = sd.query_devices()
        for index, dev in enumerate(devices):
            if dev["max_input_channels"] > 0:
                report["inputs"].append(dev["name"])
            if dev["max_output_channels"] > 0:
                report["outputs"].append(dev["name"])
            if index == sd.default.device[0]:
                report["default_input"] = dev["name"]
            if index == sd.default.device[1]:
                report["default_output"] = dev["name"]
    except Exception as exc:
        report["error"] = f"cannot list audio devices: {exc}"
    if not report["inputs"] and report["error"] is None:
        report["error"] = "no microphone found; visitors can still use the touch screen"
    return report


def _pulse_running() -> bool:
    try:
        return subprocess.run(["pactl", "info"], capture_output=True, timeout=3).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_display() -> dict[str, Any]:
    platform_env = os.environ.get("QT_QPA_PLATFORM")
    display = os.environ.get("DISPLAY")
    wayland = os.environ.get("WAYLAND_DISPLAY")
    available = bool(display or wayland or platform_env in ("offscreen", "minimal", "eglfs", "linuxfb", "vnc"))
    return {
        "available": available,
        "DISPLAY": display,
        "WAYLAND_DISPLAY": wayland,
        "QT_QPA_PLATFORM": platform_env,
        "xvfb_run": shutil.which("xvfb-run"),
        "hint": None
        if available
        else "no screen: run `xvfb-run -a .venv/bin/kiosk run` or set QT_QPA_PLATFORM=offscreen",
    }


def check_home(home: KioskHome) -> dict[str, Any]:
    exists = home.root.exists()
    free = (
        shutil.disk_usage(home.root if exists else home.root.parent).free
        if (exists or home.root.parent.exists())
        else None
    )
    return {
        "path": str(home.root),
        "exists": exists,
        "writable": os.access(home.root, os.W_OK) if exists else os.access(home.root.parent, os.W_OK),
        "settings_file": str(home.settings_file),
        "settings_file_exists": home.settings_file.exists(),
        "free_mb": None if free is None else free // (1 << 20),
    }


def run_checks(home: KioskHome, settings: Settings | None, settings_error: KioskError | None) -> dict[str, Any]:
    """The whole report. ``ok`` is false when something the kiosk needs is missing."""
    models: dict[str, dict[str, Any]] = {}
    if settings is not None:
        manager = ModelManager(settings=settings, home=home)
        models = {role: loc.to_dict() for role, loc in manager.resolve_all().items()}
    packages = check_packages()
    report: dict[str, Any] = {
        "version": package_version("kiosk-avatar"),
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "home": check_home(home),
        "settings": {"ok": settings_error is None, "error": str(settings_error) if settings_error else None},
        "models": models,
        "packages": packages,
        "audio": check_audio(),
        "display": check_display(),
    }
    problems = []
    if settings_error is not None:
        problems.append(str(settings_error))
    problems += [
        f"model {role} missing: {m.get('detail', '')}" for role, m in models.items() if m["required"] and not m["found"]
    ]
    problems += [f"package {name} not installed" for name, p in packages.items() if p["version"] is None]
    if not report["home"]["writable"]:
        problems.append(f"kiosk home {home.root} is not writable")
    report["problems"] = problems
    report["ok"] = not problems
    return report


def render_table(report: dict[str, Any]) -> str:
    """Human-readable version of :func:`run_checks`."""

    def mark(ok: bool | None, optional: bool = False) -> str:
        if ok:
            return "ok  "
        return "--  " if optional else "FAIL"

    lines = [f"kiosk-avatar {report['version'] or '(not installed)'} on Python {report['python']['version']}", ""]
    home = report["home"]
    lines.append(f"home      {mark(home['writable'])} {home['path']}  (free {home['free_mb']} MB)")
    settings = report["settings"]
    lines.append(f"settings  {mark(settings['ok'])} {settings['error'] or home['settings_file']}")
    lines += ["", "models"]
    for role, m in report["models"].items():
        where = m["path"] or m.get("detail", "")
        extra = f" [{m['engine']}]" if "engine" in m else ""
        lines.append(f"  {role:<17} {mark(m['found'], not m['required'])} {m['source']:<8}{extra} {where}")
    lines += ["", "packages"]
    for name, p in report["packages"].items():
        lines.append(f"  {name:<22} {mark(p['version'] is not None)} {p['version'] or 'missing'}  ({p['for']})")
    audio = report["audio"]
    lines += ["", "audio"]
    lines.append(f"  portaudio   {mark(audio['portaudio'])}")
    lines.append(f"  pulseaudio  {mark(audio['pulseaudio'], True)}")
    lines.append(
        f"  microphone  {mark(bool(audio['inputs']), True)} {audio['default_input'] or ', '.join(audio['inputs']) or 'none'}"
    )
    lines.append(
        f"  speaker     {mark(bool(audio['outputs']), True)} {audio['default_output'] or ', '.join(audio['outputs']) or 'none'}"
    )
    if audio["error"]:
        lines.append(f"  note: {audio['error']}")
    display = report["display"]
    lines += [
        "",
        f"display   {mark(display['available'], True)} {display['DISPLAY'] or display['WAYLAND_DISPLAY'] or display['QT_QPA_PLATFORM'] or 'none'}",
    ]
    if display["hint"]:
        lines.append(f"  note: {display['hint']}")
    lines.append("")
    if report["ok"]:
        lines.append("everything the kiosk needs is here")
    else:
        lines.append("problems:")
        lines += [f"  - {p}" for p in report["problems"]]
    return "\n".join(lines)
