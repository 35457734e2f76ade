"""The frame renderer: rig parameters to a QImage, drawn with anti-aliased QPainter vector paths.

Everything is drawn in the pack's canvas coordinates (e.g. 1080x1920) and
scaled to the output size. What does not move per frame is cached as images at
the output resolution: the background with the body (one per breathing step)
and the head's base (face, ears, nose, hair). A frame is then one opaque blit,
one transformed head blit and the live features (eyes, brows, mouth) as paths.

Needs a ``QGuiApplication`` (created on demand, offscreen when there is no display).
"""

from __future__ import annotations

import logging
import math
import os

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QRadialGradient,
    QTransform,
)

from avatar.pack import AvatarPack
from avatar.rig import RigParams

_LOGGER = logging.getLogger(__name__)

BREATH_STEPS = 8
_APPS: list[QGuiApplication] = []  # keeps the application we created alive


def ensure_qt() -> QGuiApplication:
    """A QGuiApplication for offscreen drawing (``QT_QPA_PLATFORM=offscreen`` without a display)."""
    app = QGuiApplication.instance()
    if app is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication([])
        _APPS.append(app)
    return app  # type: ignore[return-value]


def _c(hex_colour: str, alpha: float | None = None) -> QColor:
    """A QColor from #RRGGBB or #RRGGBBAA (CSS order), with an optional alpha override (0..1)."""
    h = hex_colour.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    a = int(h[6:8], 16) if len(h) == 8 else 255
    colour = QColor(r, g, b, a)
    if alpha is not None:
        colour.setAlphaF(max(0.0, min(1.0, alpha)))
    return colour


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
        round(a.alpha() + (b.alpha() - a.alpha()) * t),
    )


def _soft_shadow(p: QPainter, path: QPainterPath, colour: QColor, radius: float, steps: int = 6) -> None:
    """A soft shadow: the path stroked with widening, fading pens (cached layers only)."""
    p.save()
    p.setBrush(Qt.BrushStyle.NoBrush)
    for i in range(steps, 0, -1):
        c = QColor(colour)
        c.setAlphaF(colour.alphaF() / steps)
        pen = QPen(c, radius * i / steps * 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        p.drawPath(path)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawPath(path)
    p.restore()


class AvatarRenderer:
    """Draws one pack at one output size; ``render(params)`` returns the frame (reused between calls)."""

    def __init__(self, pack: AvatarPack, width: int, height: int) -> None:
        ensure_qt()
        self.pack = pack
        self.width = int(width)
        self.height = int(height)
        self.scale = min(self.width / pack.width, self.height / pack.height)
        self.offset = QPointF((self.width - pack.width * self.scale) / 2, (self.height - pack.height * self.scale) / 2)
        self.pal = {k: _c(v) for k, v in pack.palette.items()}
        self._frame = QImage(self.width, self.height, QImage.Format.Format_RGB32)
        self._backgrounds: dict[int, QImage] = {}
        self._head_base: QImage | None = None
        hp = pack.parts["head"]
        self.head_center = QPointF(hp["x"], hp["y"])
        self.head_w, self.head_h = hp["width"], hp["height"]
        # the head image covers hair and ears around the face
        if pack.style == "mascot":  # ears, tuft and the soft shadow
            margin_x, margin_top, margin_bottom = 0.06 * self.head_w, 0.22 * self.head_h, 0.1 * self.head_h
        else:  # the hair reaches out to 1.32 x volume of the half width
            vol = pack.parts["hair"]["volume"]
            margin_x = max(0.05, 0.66 * vol - 0.5 + 0.05) * self.head_w
            margin_top = max(0.05, 0.61 * vol - 0.5 + 0.06) * self.head_h
            margin_bottom = 0.06 * self.head_h
        self._head_rect = QRectF(
            -self.head_w / 2 - margin_x,
            -self.head_h / 2 - margin_top,
            self.head_w + 2 * margin_x,
            self.head_h + margin_top + margin_bottom,
        )
        self._pivot = QPointF(0, self.head_h * 0.42)  # the neck: the head tilts around it

    # ------------------------------------------------------------------ public

    def render(self, params: RigParams) -> QImage:
        """The frame for ``params``: a Format_RGB32 image owned by the renderer (copy it to keep it)."""
        p = QPainter(self._frame)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        p.drawImage(0, 0, self._background(params.breathing))
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.setTransform(self._head_transform(params))
        p.drawImage(self._head_rect, self._head())
        self._draw_face(p, params)
        p.end()
        return self._frame

    def mouth_rect(self) -> QRectF:
        """Where the mouth is in output pixels (at rest pose): for tests and close-ups."""
        m = self.pack.parts["mouth"]
        w = m["width"] * 1.6
        x = self.head_center.x() - w / 2
        y = self.head_center.y() + m["y"] - m["width"] * 0.5
        r = QRectF(x, y, w, m["width"] * 1.3)
        return QRectF(
            self.offset.x() + r.x() * self.scale,
            self.offset.y() + r.y() * self.scale,
            r.width() * self.scale,
            r.height() * self.scale,
        )

    # ------------------------------------------------------------- transforms

    def _base_transform(self) -> QTransform:
        t = QTransform()
        t.translate(self.offset.x(), self.offset.y())
        t.scale(self.scale, self.scale)
        return t

    def _breath_offset(self, breathing: float) -> float:
        return -6.0 * breathing * (1.3 if self.pack.style == "mascot" else 1.0)

    def _head_transform(self, params: RigParams) -> QTransform:
        t = self._base_transform()
        breath = self._breath_offset(params.breathing)
        t.translate(
            self.head_center.x() + params.head_turn * 14, self.head_center.y() + breath * 0.8 + params.head_nod * 2.2
        )
        t.translate(self._pivot.x(), self._pivot.y())
        t.rotate(params.head_tilt)
        t.translate(-self._pivot.x(), -self._pivot.y())
        return t

    # ----------------------------------------------------------------- caches

    def _background(self, breathing: float) -> QImage:
        step = round(max(0.0, min(1.0, breathing / 1.3)) * (BREATH_STEPS - 1))
        image = self._backgrounds.get(step)
        if image is None:
            image = QImage(self.width, self.height, QImage.Format.Format_RGB32)
            p = QPainter(image)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setTransform(self._base_transform())
            self._draw_backdrop(p)
            p.translate(0, self._breath_offset(step / (BREATH_STEPS - 1) * 1.3))
            if self.pack.style == "mascot":
                self._draw_mascot_body(p)
            else:
                self._draw_presenter_body(p)
            p.end()
            self._backgrounds[step] = image
        return image

    def _head(self) -> QImage:
        if self._head_base is None:
            r = self._head_rect
            image = QImage(
                math.ceil(r.width() * self.scale),
                math.ceil(r.height() * self.scale),
                QImage.Format.Format_ARGB32_Premultiplied,
            )
            image.fill(Qt.GlobalColor.transparent)
            p = QPainter(image)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.scale(self.scale, self.scale)
            p.translate(-r.x(), -r.y())
            if self.pack.style == "mascot":
                self._draw_mascot_head(p)
            else:
                self._draw_presenter_head(p)
            p.end()
            self._head_base = image
        return self._head_base

    # ------------------------------------------------------------- backdrop

    def _draw_backdrop(self, p: QPainter) -> None:
        pal, cw, ch = self.pal, self.pack.width, self.pack.height
        p.setTransform(QTransform())
        p.fillRect(0, 0, self.width, self.height, pal["background_bottom"])
        p.setTransform(self._base_transform())
        grad = QLinearGradient(0, 0, 0, ch)
        grad.setColorAt(0.0, pal["background_top"])
        grad.setColorAt(1.0, pal["background_bottom"])
        p.fillRect(QRectF(0, 0, cw, ch), grad)
        # soft out-of-focus lobby: large rounded panels and bokeh dots
        p.setPen(Qt.PenStyle.NoPen)
        panel = _mix(pal["background_top"], QColor(255, 255, 255), 0.5)
        panel.setAlphaF(0.35)
        for x, w in ((-80, 300), (820, 340)):
            g = QLinearGradient(0, 150, 0, ch * 0.75)
            g.setColorAt(0, panel)
            c2 = QColor(panel)
            c2.setAlphaF(0.0)
            g.setColorAt(1, c2)
            p.setBrush(g)
            p.drawRoundedRect(QRectF(x, 150, w, ch * 0.7), 40, 40)
        accent = QColor(pal["accent"])
        for i, (x, y, r) in enumerate(
            ((130, 420, 60), (960, 300, 44), (900, 980, 80), (170, 1100, 50), (740, 160, 30))
        ):
            c = QColor(accent if i % 2 else QColor(255, 255, 255))
            c.setAlphaF(0.16)
            g = QRadialGradient(QPointF(x, y), r)
            g.setColorAt(0, c)
            c0 = QColor(c)
            c0.setAlphaF(0.0)
            g.setColorAt(1, c0)
            p.setBrush(g)
            p.drawEllipse(QPointF(x, y), r, r)
        glow = QRadialGradient(self.head_center, self.head_h * 1.15)
        glow.setColorAt(0.0, pal["background_glow"])
        transparent = QColor(pal["background_glow"])
        transparent.setAlphaF(0.0)
        glow.setColorAt(1.0, transparent)
        p.setBrush(glow)
        p.drawEllipse(self.head_center, self.head_h * 1.15, self.head_h * 1.15)
        # vignette
        vig = QRadialGradient(QPointF(cw / 2, ch * 0.45), ch * 0.75)
        vig.setColorAt(0.6, QColor(0, 0, 0, 0))
        vig.setColorAt(1.0, QColor(0, 0, 0, 40))
        p.fillRect(QRectF(0, 0, cw, ch), vig)

    # ---------------------------------------------------------- presenter

    def _face_path(self) -> QPainterPath:
        w, h = self.head_w / 2, self.head_h / 2
        path = QPainterPath(QPointF(0, -h))
        path.cubicTo(QPointF(w * 0.62, -h), QPointF(w, -h * 0.68), QPointF(w, -h * 0.12))
        path.cubicTo(QPointF(w, h * 0.3), QPointF(w * 0.72, h * 0.72), QPointF(w * 0.3, h * 0.93))
        path.cubicTo(QPointF(w * 0.12, h * 1.01), QPointF(-w * 0.12, h * 1.01), QPointF(-w * 0.3, h * 0.93))
        path.cubicTo(QPointF(-w * 0.72, h * 0.72), QPointF(-w, h * 0.3), QPointF(-w, -h * 0.12))
        path.cubicTo(QPointF(-w, -h * 0.68), QPointF(-w * 0.62, -h), QPointF(0, -h))
        return path

    def _draw_presenter_body(self, p: QPainter) -> None:
        pal, parts = self.pal, self.pack.parts
        body = parts["body"]
        cx, top = self.head_center.x(), body["y"]
        sw = body["shoulder_width"] / 2
        nw = body["neck_width"] / 2
        bottom = self.pack.height
        p.setPen(Qt.PenStyle.NoPen)
        # neck with a shadow under the jaw
        neck_top = self.head_center.y() + self.head_h * 0.3
        neck = QPainterPath(QPointF(cx - nw, neck_top))
        neck.lineTo(cx + nw, neck_top)
        neck.cubicTo(QPointF(cx + nw, top - 60), QPointF(cx + nw * 1.1, top), QPointF(cx + nw * 1.6, top + 40))
        neck.lineTo(cx - nw * 1.6, top + 40)
        neck.cubicTo(QPointF(cx - nw * 1.1, top), QPointF(cx - nw, top - 60), QPointF(cx - nw, neck_top))
        g = QLinearGradient(0, neck_top, 0, top + 40)
        g.setColorAt(0.0, pal["skin_shadow"])
        g.setColorAt(0.45, _mix(pal["skin_shadow"], pal["skin"], 0.6))
        g.setColorAt(1.0, pal["skin"])
        p.setBrush(g)
        p.drawPath(neck)
        side = QLinearGradient(cx - nw, 0, cx + nw, 0)
        edge = QColor(pal["skin_shadow"])
        edge.setAlphaF(0.55)
        clear = QColor(edge)
        clear.setAlphaF(0.0)
        side.setColorAt(0.0, edge)
        side.setColorAt(0.25, clear)
        side.setColorAt(0.75, clear)
        side.setColorAt(1.0, edge)
        p.setBrush(side)
        p.drawPath(neck)
        # shirt
        shirt = QPainterPath(QPointF(cx - nw * 1.7, top + 10))
        shirt.lineTo(cx + nw * 1.7, top + 10)
        shirt.lineTo(cx + nw * 1.2, bottom)
        shirt.lineTo(cx - nw * 1.2, bottom)
        shirt.closeSubpath()
        p.setBrush(pal["shirt"])
        p.drawPath(shirt)
        # blazer: rounded shoulders down to the bottom edge
        blazer = QPainterPath(QPointF(cx - nw * 1.25, top + 5))
        blazer.cubicTo(QPointF(cx - sw * 0.6, top + 10), QPointF(cx - sw, top + 40), QPointF(cx - sw * 1.02, top + 230))
        blazer.lineTo(cx - sw * 1.1, bottom + 10)
        blazer.lineTo(cx + sw * 1.1, bottom + 10)
        blazer.lineTo(cx + sw * 1.02, top + 230)
        blazer.cubicTo(QPointF(cx + sw, top + 40), QPointF(cx + sw * 0.6, top + 10), QPointF(cx + nw * 1.25, top + 5))
        # the V opening
        blazer.lineTo(cx + 20, top + 420)
        blazer.lineTo(cx - 20, top + 420)
        blazer.closeSubpath()
        shadow = QColor(0, 0, 0, 60)
        p.save()
        p.translate(0, 10)
        _soft_shadow(p, blazer, shadow, 18)
        p.restore()
        g = QLinearGradient(cx - sw, top, cx + sw, top + 300)
        g.setColorAt(0.0, pal["outfit_shadow"])
        g.setColorAt(0.35, pal["outfit"])
        g.setColorAt(0.65, _mix(pal["outfit"], QColor(255, 255, 255), 0.08))
        g.setColorAt(1.0, pal["outfit_shadow"])
        p.setBrush(g)
        p.drawPath(blazer)
        # lapels
        for side in (-1, 1):
            lapel = QPainterPath(QPointF(cx + side * nw * 1.25, top + 5))
            lapel.lineTo(cx + side * 20, top + 420)
            lapel.lineTo(cx + side * 150, top + 250)
            lapel.lineTo(cx + side * 120, top + 175)
            lapel.lineTo(cx + side * 210, top + 120)
            lapel.cubicTo(
                QPointF(cx + side * 200, top + 60),
                QPointF(cx + side * nw * 1.6, top + 20),
                QPointF(cx + side * nw * 1.25, top + 5),
            )
            lg = QLinearGradient(cx, top, cx + side * 200, top + 300)
            lg.setColorAt(0, _mix(pal["outfit"], QColor(255, 255, 255), 0.12))
            lg.setColorAt(1, pal["outfit_shadow"])
            p.setBrush(lg)
            p.setPen(QPen(_mix(pal["outfit_shadow"], QColor(0, 0, 0), 0.3), 2.5))
            p.drawPath(lapel)
        p.setPen(Qt.PenStyle.NoPen)
        # scarf knot and tails
        scarf = QPainterPath(QPointF(cx - nw * 1.15, top + 8))
        scarf.cubicTo(QPointF(cx - 40, top + 70), QPointF(cx + 40, top + 70), QPointF(cx + nw * 1.15, top + 8))
        scarf.lineTo(cx + nw * 1.05, top + 40)
        scarf.cubicTo(QPointF(cx + 40, top + 110), QPointF(cx - 40, top + 110), QPointF(cx - nw * 1.05, top + 40))
        scarf.closeSubpath()
        sg = QLinearGradient(cx - 100, top, cx + 100, top + 100)
        sg.setColorAt(0, _mix(pal["accent"], QColor(255, 255, 255), 0.25))
        sg.setColorAt(1, _mix(pal["accent"], QColor(0, 0, 0), 0.2))
        p.setBrush(sg)
        p.drawPath(scarf)
        tail = QPainterPath(QPointF(cx - 22, top + 85))
        tail.cubicTo(QPointF(cx - 50, top + 160), QPointF(cx - 30, top + 240), QPointF(cx - 5, top + 300))
        tail.lineTo(cx + 40, top + 280)
        tail.cubicTo(QPointF(cx + 20, top + 210), QPointF(cx + 30, top + 140), QPointF(cx + 22, top + 85))
        tail.closeSubpath()
        p.setBrush(_mix(pal["accent"], QColor(0, 0, 0), 0.12))
        p.drawPath(tail)
        p.setBrush(_mix(pal["accent"], QColor(255, 255, 255), 0.1))
        p.drawEllipse(QPointF(cx, top + 80), 30, 24)
        # buttons
        p.setBrush(_mix(pal["outfit_shadow"], QColor(0, 0, 0), 0.3))
        for y in (top + 470, top + 570):
            p.drawEllipse(QPointF(cx + 30, y), 11, 11)
        # badge
        if self.pack.parts["badge"]["visible"]:
            self._draw_badge(p, QRectF(cx + 150, top + 300, 190, 64))

    def _draw_badge(self, p: QPainter, rect: QRectF) -> None:
        pal = self.pal
        p.save()
        path = QPainterPath()
        path.addRoundedRect(rect, 10, 10)
        _soft_shadow(p, path.translated(0, 4), QColor(0, 0, 0, 50), 6, 3)
        p.setBrush(pal["badge"])
        p.drawPath(path)
        p.setBrush(pal["accent"])
        p.drawRoundedRect(QRectF(rect.x(), rect.y(), 14, rect.height()), 6, 6)
        text = self.pack.text.get("badge", self.pack.title.upper())
        font = QFont(self.pack.text.get("font", "DejaVu Sans"))
        font.setPixelSize(int(rect.height() * 0.36))
        font.setBold(True)
        p.setFont(font)
        p.setPen(pal["badge_text"])
        p.drawText(rect.adjusted(18, 0, -4, 0), Qt.AlignmentFlag.AlignCenter, text)
        p.restore()

    def _draw_presenter_head(self, p: QPainter) -> None:
        pal = self.pal
        w, h = self.head_w / 2, self.head_h / 2
        vol = self.pack.parts["hair"]["volume"]
        p.setPen(Qt.PenStyle.NoPen)
        # hair behind the head (a shoulder-length bob)
        back = QPainterPath(QPointF(0, -h * 1.22 * vol))
        back.cubicTo(
            QPointF(w * 1.25 * vol, -h * 1.2), QPointF(w * 1.32 * vol, -h * 0.2), QPointF(w * 1.22 * vol, h * 0.55)
        )
        back.cubicTo(QPointF(w * 1.15, h * 0.8), QPointF(w * 0.9, h * 0.82), QPointF(w * 0.7, h * 0.7))
        back.lineTo(-w * 0.7, h * 0.7)
        back.cubicTo(QPointF(-w * 0.9, h * 0.82), QPointF(-w * 1.15, h * 0.8), QPointF(-w * 1.22 * vol, h * 0.55))
        back.cubicTo(
            QPointF(-w * 1.32 * vol, -h * 0.2), QPointF(-w * 1.25 * vol, -h * 1.2), QPointF(0, -h * 1.22 * vol)
        )
        hg = QLinearGradient(0, -h * 1.2, 0, h * 0.8)
        hg.setColorAt(0, pal["hair_highlight"])
        hg.setColorAt(0.5, pal["hair"])
        hg.setColorAt(1, _mix(pal["hair"], QColor(0, 0, 0), 0.3))
        p.setBrush(hg)
        p.drawPath(back)
        # ears
        for side in (-1, 1):
            ear = QPainterPath()
            ear.addEllipse(QPointF(side * w * 0.98, h * 0.02), w * 0.13, h * 0.15)
            p.setBrush(pal["skin_shadow"])
            p.drawPath(ear)
            p.setBrush(_mix(pal["skin"], pal["skin_shadow"], 0.3))
            p.drawEllipse(QPointF(side * w * 0.99, h * 0.02), w * 0.08, h * 0.1)
        # face
        face = self._face_path()
        fg = QRadialGradient(QPointF(-w * 0.15, -h * 0.15), h * 1.15)
        fg.setColorAt(0.0, _mix(pal["skin"], QColor(255, 255, 255), 0.15))
        fg.setColorAt(0.6, pal["skin"])
        fg.setColorAt(1.0, pal["skin_shadow"])
        p.setBrush(fg)
        p.drawPath(face)
        # jaw shadow and cheeks
        cheek = QColor(pal["cheek"])
        for side in (-1, 1):
            cg = QRadialGradient(QPointF(side * w * 0.55, h * 0.32), w * 0.26)
            c1 = QColor(cheek)
            c1.setAlphaF(0.38)
            c0 = QColor(cheek)
            c0.setAlphaF(0.0)
            cg.setColorAt(0, c1)
            cg.setColorAt(1, c0)
            p.setBrush(cg)
            p.drawEllipse(QPointF(side * w * 0.55, h * 0.32), w * 0.26, w * 0.2)
        # nose: a soft side shadow and the tip
        nose = self.pack.parts["nose"]
        ny, ns = nose["y"], nose["size"]
        shade = QColor(pal["skin_shadow"])
        nose_path = QPainterPath(QPointF(-6 * ns, ny - 80 * ns))
        nose_path.cubicTo(
            QPointF(-10 * ns, ny - 40 * ns), QPointF(-26 * ns, ny - 10 * ns), QPointF(-24 * ns, ny + 8 * ns)
        )
        nose_path.cubicTo(QPointF(-20 * ns, ny + 22 * ns), QPointF(-6 * ns, ny + 22 * ns), QPointF(0, ny + 20 * ns))
        shade.setAlphaF(0.55)
        p.setPen(QPen(shade, 5 * ns, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(nose_path)
        p.setPen(Qt.PenStyle.NoPen)
        tip = QRadialGradient(QPointF(0, ny + 4 * ns), 26 * ns)
        light = _mix(pal["skin"], QColor(255, 255, 255), 0.35)
        tip.setColorAt(0, light)
        light0 = QColor(light)
        light0.setAlphaF(0)
        tip.setColorAt(1, light0)
        p.setBrush(tip)
        p.drawEllipse(QPointF(0, ny + 4 * ns), 26 * ns, 20 * ns)
        shade.setAlphaF(0.6)
        p.setBrush(shade)
        for side in (-1, 1):
            p.drawEllipse(QPointF(side * 12 * ns, ny + 16 * ns), 7 * ns, 4 * ns)
        # fringe: side-swept, above the brows
        fringe = self.pack.parts["hair"]["fringe"]
        front = QPainterPath(QPointF(-w * 1.04, -h * 0.05))
        front.cubicTo(QPointF(-w * 1.1, -h * 0.9), QPointF(-w * 0.3, -h * 1.18), QPointF(w * 0.3, -h * 1.08))
        front.cubicTo(QPointF(w * 0.85, -h * 0.98), QPointF(w * 1.08, -h * 0.6), QPointF(w * 1.04, -h * 0.05))
        front.cubicTo(
            QPointF(w * 0.92, -h * 0.45), QPointF(w * 0.7, -h * 0.58), QPointF(w * 0.35, -h * (0.62 - 0.05 * fringe))
        )
        front.cubicTo(
            QPointF(w * 0.0, -h * 0.66), QPointF(-w * 0.45, -h * 0.52), QPointF(-w * 0.72, -h * (0.3 + 0.08 * fringe))
        )
        front.cubicTo(QPointF(-w * 0.85, -h * 0.2), QPointF(-w * 0.95, -h * 0.1), QPointF(-w * 1.04, -h * 0.05))
        _soft_shadow(p, front.translated(0, 10), QColor(0, 0, 0, 40), 10, 4)
        fg2 = QLinearGradient(-w, -h, w * 0.5, -h * 0.3)
        fg2.setColorAt(0, pal["hair"])
        fg2.setColorAt(0.45, pal["hair_highlight"])
        fg2.setColorAt(1, pal["hair"])
        p.setBrush(fg2)
        p.drawPath(front)

    # ------------------------------------------------------------- mascot

    def _draw_mascot_body(self, p: QPainter) -> None:
        pal, body = self.pal, self.pack.parts["body"]
        cx, top = self.head_center.x(), body["y"]
        sw = body["shoulder_width"] / 2
        bottom = self.pack.height
        p.setPen(Qt.PenStyle.NoPen)
        shape = QPainterPath(QPointF(cx - sw * 0.62, top - 140))
        shape.cubicTo(
            QPointF(cx - sw * 1.05, top + 60), QPointF(cx - sw * 1.1, top + 420), QPointF(cx - sw * 0.95, bottom + 20)
        )
        shape.lineTo(cx + sw * 0.95, bottom + 20)
        shape.cubicTo(
            QPointF(cx + sw * 1.1, top + 420), QPointF(cx + sw * 1.05, top + 60), QPointF(cx + sw * 0.62, top - 140)
        )
        shape.closeSubpath()
        p.save()
        p.translate(0, 14)
        _soft_shadow(p, shape, QColor(0, 0, 0, 45), 24)
        p.restore()
        g = QLinearGradient(cx - sw, 0, cx + sw, 0)
        g.setColorAt(0, pal["outfit_shadow"])
        g.setColorAt(0.4, pal["outfit"])
        g.setColorAt(0.6, _mix(pal["outfit"], QColor(255, 255, 255), 0.1))
        g.setColorAt(1, pal["outfit_shadow"])
        p.setBrush(g)
        p.drawPath(shape)
        # belly patch
        belly = QPainterPath()
        belly.addEllipse(QPointF(cx, top + 420), sw * 0.58, 330)
        bg = QRadialGradient(QPointF(cx - 40, top + 360), sw * 0.7)
        bg.setColorAt(0, _mix(pal["shirt"], QColor(255, 255, 255), 0.5))
        bg.setColorAt(1, pal["skin_shadow"])
        p.setBrush(bg)
        p.drawPath(belly)
        # little arms
        for side in (-1, 1):
            arm = QPainterPath()
            arm.addEllipse(QPointF(cx + side * sw * 0.93, top + 330), 70, 150)
            t = QTransform()
            t.translate(cx + side * sw * 0.93, top + 330)
            t.rotate(side * -18)
            t.translate(-(cx + side * sw * 0.93), -(top + 330))
            arm = t.map(arm)
            p.setBrush(pal["outfit_shadow"])
            p.drawPath(arm)
        # scarf
        scarf = QPainterPath(QPointF(cx - sw * 0.66, top - 70))
        scarf.cubicTo(QPointF(cx - 150, top + 30), QPointF(cx + 150, top + 30), QPointF(cx + sw * 0.66, top - 70))
        scarf.lineTo(cx + sw * 0.7, top - 10)
        scarf.cubicTo(QPointF(cx + 150, top + 100), QPointF(cx - 150, top + 100), QPointF(cx - sw * 0.7, top - 10))
        scarf.closeSubpath()
        sg = QLinearGradient(0, top - 70, 0, top + 100)
        sg.setColorAt(0, _mix(pal["accent"], QColor(255, 255, 255), 0.25))
        sg.setColorAt(1, _mix(pal["accent"], QColor(0, 0, 0), 0.15))
        p.setBrush(sg)
        p.drawPath(scarf)
        tail = QPainterPath(QPointF(cx + 90, top + 40))
        tail.cubicTo(QPointF(cx + 120, top + 140), QPointF(cx + 100, top + 220), QPointF(cx + 130, top + 270))
        tail.lineTo(cx + 190, top + 250)
        tail.cubicTo(QPointF(cx + 170, top + 190), QPointF(cx + 180, top + 110), QPointF(cx + 160, top + 30))
        tail.closeSubpath()
        p.setBrush(_mix(pal["accent"], QColor(0, 0, 0), 0.1))
        p.drawPath(tail)
        if self.pack.parts["badge"]["visible"]:
            self._draw_badge(p, QRectF(cx - 250, top + 150, 180, 60))

    def _draw_mascot_head(self, p: QPainter) -> None:
        pal = self.pal
        w, h = self.head_w / 2, self.head_h / 2
        p.setPen(Qt.PenStyle.NoPen)
        # round ears
        for side in (-1, 1):
            c = QPointF(side * w * 0.72, -h * 0.82)
            p.setBrush(pal["outfit_shadow"])
            p.drawEllipse(c, w * 0.24, w * 0.24)
            p.setBrush(pal["cheek"])
            p.drawEllipse(c, w * 0.13, w * 0.13)
        # head: a soft rounded blob
        head = QPainterPath()
        head.addRoundedRect(QRectF(-w, -h, 2 * w, 2 * h), w * 0.85, h * 0.9)
        _soft_shadow(p, head.translated(0, 16), QColor(0, 0, 0, 40), 20, 5)
        g = QRadialGradient(QPointF(-w * 0.3, -h * 0.45), h * 1.5)
        g.setColorAt(0, pal["hair_highlight"])
        g.setColorAt(0.5, pal["hair"])
        g.setColorAt(1, pal["outfit_shadow"])
        p.setBrush(g)
        p.drawPath(head)
        # face patch
        face = QPainterPath()
        face.addEllipse(QPointF(0, h * 0.12), w * 0.8, h * 0.78)
        fg = QRadialGradient(QPointF(-w * 0.1, -h * 0.05), w * 0.95)
        fg.setColorAt(0, _mix(pal["skin"], QColor(255, 255, 255), 0.5))
        fg.setColorAt(0.75, pal["skin"])
        fg.setColorAt(1, pal["skin_shadow"])
        p.setBrush(fg)
        p.drawPath(face)
        # tuft
        tuft = QPainterPath(QPointF(-30, -h * 0.98))
        tuft.cubicTo(QPointF(-40, -h * 1.25), QPointF(10, -h * 1.3), QPointF(30, -h * 1.22))
        tuft.cubicTo(QPointF(0, -h * 1.15), QPointF(10, -h * 1.05), QPointF(30, -h * 0.98))
        tuft.closeSubpath()
        p.setBrush(pal["hair"])
        p.drawPath(tuft)
        # cheeks
        for side in (-1, 1):
            cc = QPointF(side * w * 0.52, h * 0.3)
            cg = QRadialGradient(cc, w * 0.17)
            c1 = QColor(pal["cheek"])
            c1.setAlphaF(0.65)
            c0 = QColor(pal["cheek"])
            c0.setAlphaF(0.0)
            cg.setColorAt(0, c1)
            cg.setColorAt(1, c0)
            p.setBrush(cg)
            p.drawEllipse(cc, w * 0.17, w * 0.13)
        # nose: a small rounded triangle
        ny = self.pack.parts["nose"]["y"] * self.pack.parts["nose"]["size"]
        nose = QPainterPath(QPointF(-22, ny - 12))
        nose.cubicTo(QPointF(-10, ny - 18), QPointF(10, ny - 18), QPointF(22, ny - 12))
        nose.cubicTo(QPointF(18, ny + 4), QPointF(6, ny + 12), QPointF(0, ny + 12))
        nose.cubicTo(QPointF(-6, ny + 12), QPointF(-18, ny + 4), QPointF(-22, ny - 12))
        p.setBrush(pal["brow"])
        p.drawPath(nose)
        p.setBrush(QColor(255, 255, 255, 150))
        p.drawEllipse(QPointF(-7, ny - 8), 7, 3.5)

    # --------------------------------------------------------- live features

    def _draw_face(self, p: QPainter, params: RigParams) -> None:
        turn = params.head_turn * 26
        p.translate(turn, 0)
        self._draw_eyes(p, params)
        self._draw_brows(p, params)
        p.translate(0, self.pack.parts["mouth"]["y"])
        self._draw_mouth(p, params)

    def _draw_eyes(self, p: QPainter, params: RigParams) -> None:
        pal, e = self.pal, self.pack.parts["eyes"]
        mascot = self.pack.style == "mascot"
        ew, eh = e["width"] / 2, e["height"] / 2
        # smiling pushes the lower lids up a little
        squint = 0.18 * max(params.smile, 0.0)
        open_top = 1.0 - params.blink
        for side in (-1, 1):
            c = QPointF(side * e["spacing"] / 2, e["y"])
            p.save()
            p.translate(c)
            if mascot:
                outline = QPainterPath()
                outline.addEllipse(QPointF(0, 0), ew, eh)
            else:
                outline = QPainterPath(QPointF(-ew, 0))
                outline.cubicTo(QPointF(-ew * 0.6, -eh * 1.25), QPointF(ew * 0.55, -eh * 1.3), QPointF(ew, -eh * 0.1))
                outline.cubicTo(QPointF(ew * 0.6, eh * 1.05), QPointF(-ew * 0.6, eh * 1.05), QPointF(-ew, 0))
            # lid opening: top edge comes down with blink, bottom edge up with smile
            top_y = -eh * 1.4 + (eh * 2.4) * params.blink
            bottom_y = eh * 1.4 - eh * 2.0 * squint
            lid = QPainterPath()
            lid.addRect(QRectF(-ew * 1.3, top_y, ew * 2.6, max(bottom_y - top_y, 0.0)))
            if open_top > 0.08:
                p.setPen(Qt.PenStyle.NoPen)
                clip = outline.intersected(lid)
                p.setClipPath(clip)
                p.setBrush(pal["eye_white"])
                p.drawPath(outline)
                # iris follows gaze
                ir = min(ew, eh) * e["iris"] * (1.0 if mascot else 1.35)
                gx = params.gaze_x * ew * 0.35
                gy = params.gaze_y * eh * 0.3
                ig = QRadialGradient(QPointF(gx, gy), ir)
                ig.setColorAt(0, _mix(pal["iris"], QColor(255, 255, 255), 0.25))
                ig.setColorAt(0.75, pal["iris"])
                ig.setColorAt(1, _mix(pal["iris"], QColor(0, 0, 0), 0.45))
                p.setBrush(ig)
                p.drawEllipse(QPointF(gx, gy), ir, ir)
                p.setBrush(pal["pupil"])
                p.drawEllipse(QPointF(gx, gy), ir * 0.5, ir * 0.5)
                p.setBrush(QColor(255, 255, 255, 235))
                p.drawEllipse(QPointF(gx - ir * 0.35, gy - ir * 0.38), ir * 0.24, ir * 0.24)
                p.setBrush(QColor(255, 255, 255, 160))
                p.drawEllipse(QPointF(gx + ir * 0.3, gy + ir * 0.32), ir * 0.11, ir * 0.11)
                # upper lid shadow on the eyeball
                sh = QLinearGradient(0, top_y, 0, top_y + eh * 0.7)
                sh.setColorAt(0, QColor(0, 0, 0, 70))
                sh.setColorAt(1, QColor(0, 0, 0, 0))
                p.setBrush(sh)
                p.drawRect(QRectF(-ew * 1.3, top_y, ew * 2.6, eh * 0.7))
                p.setClipping(False)
            # the lid line (lashes) follows the lid's top edge
            lash_w = 8.0 if not mascot else 6.0
            p.setPen(QPen(pal["lash"], lash_w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.setBrush(Qt.BrushStyle.NoBrush)
            if open_top <= 0.08:
                closed = QPainterPath(QPointF(-ew, 0))
                closed.quadTo(QPointF(0, eh * 0.55), QPointF(ew, 0))
                p.drawPath(closed)
            else:
                upper = QPainterPath(QPointF(-ew * 1.02, 0))
                k = open_top
                if mascot:
                    # a soft outline around the visible part of the eye
                    p.setPen(QPen(pal["lash"], 5.0))
                    p.drawPath(outline.intersected(lid) if params.blink > 0.02 else outline)
                    p.setPen(QPen(pal["lash"], lash_w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                    upper = QPainterPath(QPointF(-ew * 0.98, top_y + eh * 1.4 - 0.2 * eh))
                    rect = QRectF(-ew, -eh, 2 * ew, 2 * eh)
                    if params.blink <= 0.02:
                        upper = QPainterPath()
                        upper.arcMoveTo(rect, 160)
                        upper.arcTo(rect, 160, -140)
                    else:
                        upper = QPainterPath(QPointF(-ew * 0.98, max(top_y, -eh * 0.95)))
                        upper.lineTo(ew * 0.98, max(top_y, -eh * 0.95))
                else:
                    upper.cubicTo(
                        QPointF(-ew * 0.6, -eh * 1.25 * k + eh * (1 - k) * 0.3),
                        QPointF(ew * 0.55, -eh * 1.3 * k + eh * (1 - k) * 0.3),
                        QPointF(ew * 1.04, -eh * 0.12),
                    )
                p.drawPath(upper)
                if not mascot:
                    # crease above the eye
                    crease = QColor(pal["skin_shadow"])
                    crease.setAlphaF(0.7)
                    p.setPen(QPen(crease, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                    cr = QPainterPath(QPointF(-ew * 0.8, -eh * 1.1))
                    cr.quadTo(QPointF(0, -eh * 1.75), QPointF(ew * 0.85, -eh * 1.0))
                    p.drawPath(cr)
            p.restore()

    def _draw_brows(self, p: QPainter, params: RigParams) -> None:
        pal, b, e = self.pal, self.pack.parts["brows"], self.pack.parts["eyes"]
        bw, th = b["width"] / 2, b["thickness"]
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(pal["brow"])
        for side in (-1, 1):
            lift = params.brow_raise * 20 + side * params.brow_tilt * 8
            inner_drop = params.brow_furrow * 12
            cx = side * (e["spacing"] / 2 - params.brow_furrow * 6)
            y = b["y"] - lift
            inner = QPointF(cx - side * bw, y + inner_drop + 6)
            outer = QPointF(cx + side * bw, y + 10 - params.brow_raise * 4)
            peak = QPointF(cx + side * bw * 0.25, y - th * 0.5 - params.brow_raise * 4)
            path = QPainterPath(inner)
            path.cubicTo(
                QPointF(inner.x(), inner.y() - th),
                peak + QPointF(0, -th * 0.6),
                QPointF(outer.x(), outer.y() - th * 0.2),
            )
            path.cubicTo(outer, peak + QPointF(0, th * 0.6), QPointF(inner.x(), inner.y() + th * 0.3))
            path.closeSubpath()
            p.drawPath(path)

    def _draw_mouth(self, p: QPainter, params: RigParams) -> None:
        """Lips and the inside of the mouth from jaw, width, rounding, press, smile, teeth-lip and tongue."""
        pal, m = self.pal, self.pack.parts["mouth"]
        mascot = self.pack.style == "mascot"
        jaw = params.jaw * max(0.0, 1.0 - 1.1 * params.lip_press)
        rnd = params.lip_round
        smile = params.smile
        lt = m["lip_thickness"] * (1.0 - 0.3 * params.lip_press) * (1.0 + 0.25 * rnd)
        hw = m["width"] / 2 * (1.0 + 0.22 * params.lip_width + 0.12 * smile - 0.38 * rnd)
        opening = m["width"] * 0.62 * jaw * (1.0 + 0.2 * rnd)
        # rounded, protruded lips leave a small round opening even with the jaw nearly closed
        opening = max(opening, m["width"] * 0.3 * rnd * max(0.0, 1.0 - 1.5 * params.lip_press))
        if params.teeth_lip > 0:
            opening *= 1.0 - 0.5 * params.teeth_lip
        top_in = -opening * 0.28
        bottom_in = opening * 0.72
        corner_y = -smile * 20 + opening * 0.18
        # rounding pulls the shape into an O: flatter corners, fuller mid
        roundness = 0.55 + 0.4 * rnd
        left, right = QPointF(-hw, corner_y), QPointF(hw, corner_y)
        inner = QPainterPath(left)
        inner.cubicTo(QPointF(-hw * roundness, top_in - smile * 2), QPointF(hw * roundness, top_in - smile * 2), right)
        inner.cubicTo(QPointF(hw * roundness, bottom_in), QPointF(-hw * roundness, bottom_in), left)
        open_enough = opening > 1.5
        p.setPen(Qt.PenStyle.NoPen)
        if open_enough:
            # inside of the mouth, teeth and tongue
            ig = QLinearGradient(0, top_in, 0, bottom_in)
            ig.setColorAt(0, _mix(pal["mouth_inside"], QColor(0, 0, 0), 0.35))
            ig.setColorAt(1, pal["mouth_inside"])
            p.setBrush(ig)
            p.drawPath(inner)
            p.save()
            p.setClipPath(inner)
            teeth_h = max(lt * 0.75, 6.0)
            p.setBrush(pal["teeth"])
            upper_teeth = QRectF(-hw * 0.72, top_in - 4, hw * 1.44, teeth_h + 4 + 6 * params.teeth_lip)
            p.drawRoundedRect(upper_teeth, 5, 5)
            if jaw < 0.45 and not mascot:
                p.drawRoundedRect(QRectF(-hw * 0.6, bottom_in - teeth_h * 0.7, hw * 1.2, teeth_h), 4, 4)
            tongue_y = bottom_in - opening * 0.25 - params.tongue * opening * 0.35
            tg = QRadialGradient(QPointF(0, tongue_y), hw * 0.8)
            tg.setColorAt(0, _mix(pal["tongue"], QColor(255, 255, 255), 0.15))
            tg.setColorAt(1, _mix(pal["tongue"], QColor(0, 0, 0), 0.15))
            p.setBrush(tg)
            p.drawEllipse(QPointF(0, tongue_y + opening * 0.35), hw * 0.62, opening * 0.45 + 4)
            p.restore()
        lips = pal["lips"]
        if mascot:
            # a cartoon mouth: a soft outline, no separate lips
            pen = QPen(lips, lt, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            if open_enough:
                p.drawPath(inner)
            else:
                line = QPainterPath(left)
                line.cubicTo(
                    QPointF(-hw * 0.4, corner_y + 10 + smile * 16), QPointF(hw * 0.4, corner_y + 10 + smile * 16), right
                )
                p.drawPath(line)
            if params.teeth_lip > 0.2:
                p.setPen(QPen(pal["teeth"], 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                p.drawLine(QPointF(-hw * 0.35, top_in + 2), QPointF(hw * 0.35, top_in + 2))
            return
        # upper lip: cupid's bow on top, the inner edge below
        upper = QPainterPath(QPointF(-hw - 3, corner_y))
        bow = top_in - lt * (1.0 + 0.15 * rnd)
        upper.cubicTo(
            QPointF(-hw * 0.7, bow + lt * 0.1),
            QPointF(-hw * 0.35, bow - lt * 0.15),
            QPointF(-hw * 0.14, bow - lt * 0.05),
        )
        upper.quadTo(QPointF(0, bow + lt * 0.3), QPointF(hw * 0.14, bow - lt * 0.05))
        upper.cubicTo(QPointF(hw * 0.35, bow - lt * 0.15), QPointF(hw * 0.7, bow + lt * 0.1), QPointF(hw + 3, corner_y))
        if open_enough:
            upper.cubicTo(
                QPointF(hw * roundness, top_in - smile * 2),
                QPointF(-hw * roundness, top_in - smile * 2),
                QPointF(-hw - 3, corner_y),
            )
        else:
            upper.cubicTo(QPointF(hw * 0.5, top_in + 4), QPointF(-hw * 0.5, top_in + 4), QPointF(-hw - 3, corner_y))
        ug = QLinearGradient(0, bow - lt, 0, top_in)
        ug.setColorAt(0, _mix(lips, QColor(0, 0, 0), 0.12))
        ug.setColorAt(1, _mix(lips, QColor(0, 0, 0), 0.28))
        p.setBrush(ug)
        p.drawPath(upper)
        # lower lip, fuller; rolls in under the teeth for f/v
        roll = params.teeth_lip
        low_out = bottom_in + lt * (1.3 - 0.5 * roll) + lt * 0.2 * rnd
        lower = QPainterPath(QPointF(-hw - 3, corner_y))
        if open_enough:
            lower.cubicTo(
                QPointF(-hw * roundness, bottom_in), QPointF(hw * roundness, bottom_in), QPointF(hw + 3, corner_y)
            )
        else:
            lower.cubicTo(QPointF(-hw * 0.5, top_in + 4), QPointF(hw * 0.5, top_in + 4), QPointF(hw + 3, corner_y))
        lower.cubicTo(QPointF(hw * 0.7, low_out), QPointF(-hw * 0.7, low_out), QPointF(-hw - 3, corner_y))
        lg = QLinearGradient(0, bottom_in, 0, low_out)
        lg.setColorAt(0, _mix(lips, QColor(0, 0, 0), 0.05))
        lg.setColorAt(0.5, _mix(lips, QColor(255, 255, 255), 0.08))
        lg.setColorAt(1, _mix(lips, QColor(0, 0, 0), 0.15))
        p.setBrush(lg)
        p.drawPath(lower)
        # highlight on the lower lip
        p.setBrush(QColor(255, 255, 255, 60))
        p.drawEllipse(QPointF(-hw * 0.15, (bottom_in + low_out) / 2 + 1), hw * 0.28, lt * 0.22)
        if not open_enough:
            # the seam between closed lips, darker when pressed
            seam = QColor(_mix(lips, QColor(0, 0, 0), 0.5))
            seam.setAlphaF(0.8)
            p.setPen(QPen(seam, 3.0 + 1.5 * params.lip_press, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.setBrush(Qt.BrushStyle.NoBrush)
            s = QPainterPath(QPointF(-hw, corner_y))
            s.cubicTo(QPointF(-hw * 0.5, top_in + 4), QPointF(hw * 0.5, top_in + 4), QPointF(hw, corner_y))
            p.drawPath(s)
        # smile dimples at the corners
        if smile > 0.3:
            dimple = QColor(pal["skin_shadow"])
            dimple.setAlphaF(min(0.7, smile * 0.6))
            p.setPen(QPen(dimple, 3.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            for side in (-1, 1):
                d = QPainterPath(QPointF(side * (hw + 6), corner_y - 10))
                d.quadTo(QPointF(side * (hw + 14), corner_y), QPointF(side * (hw + 7), corner_y + 10))
                p.drawPath(d)


def qimage_to_rgb_bytes(image: QImage) -> bytes:
    """Raw BGRA bytes of a Format_RGB32 image (ffmpeg ``-pix_fmt bgra``), row padding removed."""
    width, height = image.width(), image.height()
    bpl = image.bytesPerLine()
    data = image.constBits().asstring(image.sizeInBytes())
    if bpl == width * 4:
        return bytes(data)
    return b"".join(data[row * bpl : row * bpl + width * 4] for row in range(height))
