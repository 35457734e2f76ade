"""Logging, configured once by the entry point: console plus a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(
    *,
    logs_dir: Path | None,
    console_level: int = logging.WARNING,
    file_level: str | int = logging.INFO,
    max_bytes: int = 5_000_000,
    backups: int = 5,
) -> None:
    """Send records to stderr (``console_level``) and to ``logs_dir/kiosk.log``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiosk", False):
            root.removeHandler(handler)
            handler.close()
    file_level = logging.getLevelName(file_level) if isinstance(file_level, str) else file_level

    console = logging.StreamHandler()
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console._kiosk = True  # type: ignore[attr-defined]
    root.addHandler(console)
    levels = [console_level]

    if logs_dir is not None:
        try:
            logs_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                logs_dir / "kiosk.log", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        except OSError as exc:  # a read-only home must not stop the CLI
            logging.getLogger(__name__).warning("file logging disabled: %s", exc)
        else:
            handler.setLevel(file_level)
            handler.setFormatter(logging.Formatter(FORMAT))
            handler._kiosk = True  # type: ignore[attr-defined]
            root.addHandler(handler)
            levels.append(file_level)
    root.setLevel(min(levels))
    for noisy in ("urllib3", "httpx", "chromadb", "sentence_transformers", "PIL", "numba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
