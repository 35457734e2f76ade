"""The interface of an avatar style, and the Qt plumbing every style shares.

A style turns rig parameters into frames for one pack at one output size:
``style = SomeStyle(pack, width, height)``, then ``style.render(params)`` per
frame. The registry (:mod:`avatar.render.registry`) picks the class from the
pack manifest's ``style``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QGuiApplication, QImage

from avatar.pack import AvatarPack
from avatar.rig import RigParams

_APPS: list[QGuiApplication] = []  # keeps the application we created alive


def ensure_qt() -> QGuiApplication:
    """A Qt application for offscreen drawing (``QT_QPA_PLATFORM=offscreen`` without a display).

    A ``QApplication``, not the lighter ``QGuiApplication``: Qt allows one application per process,
    and a window opened later in the same process (the kiosk after an offline render, a test after
    another) needs the widgets kind; with a ``QGuiApplication`` first, Qt aborts the process.
    """
    app = QGuiApplication.instance()
    if app is None:
        from PyQt6.QtWidgets import QApplication

        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
        _APPS.append(app)
    return app  # type: ignore[return-value]


class AvatarStyle(ABC):
    """Draws one pack at one output size: rig parameters in, a ``Format_RGB32`` QImage out.

    Subclasses set ``style`` to the manifest value they draw and are listed in
    the registry. The constructor may prepare caches; ``render`` runs per frame.
    """

    style: str = ""

    def __init__(self, pack: AvatarPack, width: int, height: int) -> None:
        ensure_qt()
        self.pack = pack
        self.width = int(width)
        self.height = int(height)

    @abstractmethod
    def render(self, params: RigParams) -> QImage:
        """The frame for ``params``, ``width`` x ``height``; it may be reused by the next call (copy it to keep it)."""

    @abstractmethod
    def mouth_rect(self) -> QRectF:
        """Where the mouth is in output pixels at rest pose: for tests and close-ups."""


def qimage_to_rgb_bytes(image: QImage) -> bytes:
    """Raw BGRA bytes of a Format_RGB32 image (ffmpeg ``-pix_fmt bgra``), row padding removed."""
    width, height = image.width(), image.height()
    bpl = image.bytesPerLine()
    data = image.constBits().asstring(image.sizeInBytes())
    if bpl == width * 4:
        return bytes(data)
    return b"".join(data[row * bpl : row * bpl + width * 4] for row in range(height))
