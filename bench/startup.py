"""How fast the ``kiosk`` CLI starts: heavy libraries must stay out of start-up.

    .venv/bin/python bench/startup.py [--runs N]

Prints one JSON object: median and max wall time per command, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "help": ["--help"],
    "config_show": ["config", "show"],
    "models_list": ["models", "list", "--json"],
    "doctor": ["doctor", "--json"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    kiosk = Path(sys.executable).parent / "kiosk"
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as home:
        for name, argv in COMMANDS.items():
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([str(kiosk), "--home", home, *argv], capture_output=True, check=False)
                times.append((time.perf_counter() - start) * 1000)
            results[name] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
    print(json.dumps({"bench": "cli_startup", "runs": args.runs, "commands": results}))


if __name__ == "__main__":
    main()
