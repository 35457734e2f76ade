"""What a kiosk reports about its machine in each heartbeat: load, memory, disk (from /proc, no extra package)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def machine_health(home_root: Path) -> dict[str, float | int | str | None]:
    health: dict[str, float | int | str | None] = {"cpus": os.cpu_count() or 1}
    try:
        load1 = os.getloadavg()[0]
        health["load1"] = round(load1, 2)
        health["cpu_percent"] = round(min(100.0, 100.0 * load1 / (os.cpu_count() or 1)), 1)
    except OSError:
        health["cpu_percent"] = None
    try:
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
        total, available = info["MemTotal"], info.get("MemAvailable", info.get("MemFree", 0))
        health["memory_mb"] = total // 1024
        health["memory_percent"] = round(100.0 * (total - available) / total, 1)
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        health["memory_percent"] = None
    try:
        health["disk_free_mb"] = shutil.disk_usage(home_root).free // (1 << 20)
    except OSError:
        health["disk_free_mb"] = None
    return health
