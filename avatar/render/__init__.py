"""The avatar's frames: rig parameters to a QImage, drawn by the style the pack's manifest names.

``AvatarRenderer(pack, width, height).render(params)`` is what the kiosk, the
video export and the benchmarks use; it picks the style through
:func:`~avatar.render.registry.create_style`. Modules:

- ``base``: the :class:`AvatarStyle` interface, ``ensure_qt``, ``qimage_to_rgb_bytes``;
- ``registry``: manifest ``style`` -> style class;
- ``drawn``: the cached-layer QPainter pipeline the drawn styles share;
- ``human``, ``mascot``: one module per style;
- ``paint``: colour and shadow helpers, the name badge.

Needs a ``QGuiApplication`` (created on demand, offscreen when there is no display).
"""

from __future__ import annotations

from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QImage

from avatar.pack import AvatarPack
from avatar.render.base import AvatarStyle, ensure_qt, qimage_to_rgb_bytes
from avatar.render.drawn import BREATH_STEPS
from avatar.render.registry import STYLE_REGISTRY, create_style, style_class
from avatar.rig import RigParams

__all__ = [
    "BREATH_STEPS",
    "STYLE_REGISTRY",
    "AvatarRenderer",
    "AvatarStyle",
    "create_style",
    "ensure_qt",
    "qimage_to_rgb_bytes",
    "style_class",
]


class AvatarRenderer:
    """Draws one pack at one output size in its style; ``render(params)`` returns the frame (reused between calls)."""

    def __init__(self, pack: AvatarPack, width: int, height: int) -> None:
        self.style = create_style(pack, width, height)
        self.pack = pack
        self.width = self.style.width
        self.height = self.style.height

    def render(self, params: RigParams) -> QImage:
        """The frame for ``params``: a Format_RGB32 image owned by the renderer (copy it to keep it)."""
        return self.style.render(params)

    def mouth_rect(self) -> QRectF:
        """Where the mouth is in output pixels (at rest pose): for tests and close-ups."""
        return self.style.mouth_rect()
