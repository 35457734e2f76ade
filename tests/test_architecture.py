"""The house rules the README's architecture section states: imports only run down a floor, modules stay small.

Read from the source (ast), so the check needs no model and takes a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The floors, bottom up (README, "Architecture"): a package imports only packages on lower floors.
FLOORS = {
    "core": 0,
    "devices": 1,
    "knowledge": 1,
    "speech": 2,
    "dialog": 2,
    "avatar": 3,
    "runtime": 4,
    "admin_web": 5,
    "fleet": 6,
    "kiosk": 7,
}
MAX_LINES = 600
QT_FREE = ("core", "devices", "knowledge", "speech", "dialog", "runtime", "admin_web", "fleet")


def _modules() -> list[tuple[str, Path]]:
    return [(p.relative_to(REPO).parts[0], p) for pkg in FLOORS for p in sorted((REPO / pkg).rglob("*.py"))]


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_imports_only_run_down_a_floor() -> None:
    upward = []
    for package, path in _modules():
        for line, module in _imports(path):
            target = module.split(".")[0]
            if target in FLOORS and target != package and FLOORS[target] >= FLOORS[package]:
                upward.append(f"{path.relative_to(REPO)}:{line} imports {module} ({package} → {target})")
    assert not upward, "\n".join(upward)


def test_no_module_is_over_600_lines() -> None:
    long = [
        f"{path.relative_to(REPO)}: {n} lines"
        for _, path in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, "\n".join(long)


def test_qt_stays_in_the_front_end_and_the_avatar() -> None:
    qt = [
        f"{path.relative_to(REPO)}:{line}"
        for package, path in _modules()
        if package in QT_FREE
        for line, module in _imports(path)
        if module.startswith("PyQt6")
    ]
    assert not qt, "\n".join(qt)


def test_every_event_is_a_frozen_dataclass_of_its_domain() -> None:
    import dataclasses

    from core.events import Event
    from devices import events as device_events
    from dialog import events as dialog_events
    from runtime import events as runtime_events
    from speech import events as speech_events

    modules = (device_events, dialog_events, runtime_events, speech_events)
    kinds = [v for m in modules for v in vars(m).values() if isinstance(v, type) and issubclass(v, Event)]
    kinds = [k for k in kinds if k is not Event]
    assert len(kinds) >= 12
    for kind in kinds:
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen, kind
        assert kind.__module__ in {m.__name__ for m in modules}, kind
