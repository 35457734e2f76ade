"""Drawing helpers shared by the drawn avatar styles: colours, soft shadows, the name badge.

Pure functions of a ``QPainter`` and the pack; no state of their own.
"""

from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen

from avatar.pack import AvatarPack


def colour(hex_colour: str, alpha: float | None = None) -> QColor:
    """A QColor from #RRGGBB or #RRGGBBAA (CSS order), with an optional alpha override (0..1)."""
    h = hex_colour.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    a = int(h[6:8], 16) if len(h) == 8 else 255
    result = QColor(r, g, b, a)
    if alpha is not None:
        result.setAlphaF(max(0.0, min(1.0, alpha)))
    return result


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved ``t`` (0..1) of the way towards ``b``, alpha included."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
        round(a.alpha() + (b.alpha() - a.alpha()) * t),
    )


def soft_shadow(p: QPainter, path: QPainterPath, shade: QColor, radius: float, steps: int = 6) -> None:
    """A soft shadow: the path stroked with widening, fading pens (cached layers only: it is slow)."""
    p.save()
    p.setBrush(Qt.BrushStyle.NoBrush)
    for i in range(steps, 0, -1):
        c = QColor(shade)
        c.setAlphaF(shade.alphaF() / steps)
        pen = QPen(c, radius * i / steps * 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        p.drawPath(path)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(shade)
    p.drawPath(path)
    p.restore()


def draw_badge(p: QPainter, pack: AvatarPack, pal: dict[str, QColor], rect: QRectF) -> None:
    """The name badge: a card with an accent stripe and the pack's badge text (or its title)."""
    p.save()
    path = QPainterPath()
    path.addRoundedRect(rect, 10, 10)
    soft_shadow(p, path.translated(0, 4), QColor(0, 0, 0, 50), 6, 3)
    p.setBrush(pal["badge"])
    p.drawPath(path)
    p.setBrush(pal["accent"])
    p.drawRoundedRect(QRectF(rect.x(), rect.y(), 14, rect.height()), 6, 6)
    text = pack.text.get("badge", pack.title.upper())
    font = QFont(pack.text.get("font", "DejaVu Sans"))
    font.setPixelSize(int(rect.height() * 0.36))
    font.setBold(True)
    p.setFont(font)
    p.setPen(pal["badge_text"])
    p.drawText(rect.adjusted(18, 0, -4, 0), Qt.AlignmentFlag.AlignCenter, text)
    p.restore()
