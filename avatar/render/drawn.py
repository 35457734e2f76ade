"""Drawn styles: rig parameters to a frame with anti-aliased QPainter vector paths.

Everything is drawn in the pack's canvas coordinates (e.g. 1080x1920) and
scaled to the output size. What does not move per frame is cached as images at
the output resolution: the background with the body (one per breathing step)
and the head's base (face, ears, nose, hair). A frame is then one opaque blit,
one transformed head blit and the live features (eyes, brows, mouth) as paths.

:class:`DrawnStyle` holds that pipeline, the backdrop and what every drawn
face shares (eyeballs, brows, mouth geometry and its inside); a style module
subclasses it and draws its own body, head, eye outline, lids and lips.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import (
    QColor,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QRadialGradient,
    QTransform,
)

from avatar.pack import AvatarPack
from avatar.render.base import AvatarStyle
from avatar.render.paint import colour, mix
from avatar.rig import RigParams

BREATH_STEPS = 8


@dataclass(frozen=True)
class EyeGeometry:
    """One eye of one frame around its centre: its open shape, the opening between the lids, its half sizes."""

    outline: QPainterPath
    lid: QPainterPath  # the opening between the lids (the top comes down with a blink, the bottom up with a smile)
    ew: float
    eh: float
    top_y: float  # the opening's top edge


@dataclass(frozen=True)
class MouthGeometry:
    """The mouth of one frame in head coordinates (origin at the mouth's centre), shared by the lips."""

    jaw: float  # the jaw opening after lip press
    rnd: float  # lip rounding
    smile: float
    lt: float  # lip thickness
    hw: float  # half width
    opening: float  # height of the opening
    top_in: float  # inner edge of the upper lip
    bottom_in: float  # inner edge of the lower lip
    corner_y: float
    roundness: float  # how far the inner curve's handles reach (0.55 flat .. 0.95 an O)
    left: QPointF
    right: QPointF
    inner: QPainterPath  # the opening
    open_enough: bool  # whether the inside (teeth, tongue) shows


class DrawnStyle(AvatarStyle):
    """The cached-layer QPainter pipeline; subclasses draw the parts that make a style."""

    breath_scale = 1.0  # how far the body and head rise with a breath
    iris_scale = 1.0  # iris radius relative to the eye opening and the pack's ``eyes.iris``
    lash_width = 8.0  # pen width of the upper lid line
    lower_teeth = False  # whether the lower teeth show when the jaw is a little open

    def __init__(self, pack: AvatarPack, width: int, height: int) -> None:
        super().__init__(pack, width, height)
        self.scale = min(self.width / pack.width, self.height / pack.height)
        self.offset = QPointF((self.width - pack.width * self.scale) / 2, (self.height - pack.height * self.scale) / 2)
        self.pal = {k: colour(v) for k, v in pack.palette.items()}
        self._frame = QImage(self.width, self.height, QImage.Format.Format_RGB32)
        self._backgrounds: dict[int, QImage] = {}
        self._head_base: QImage | None = None
        hp = pack.parts["head"]
        self.head_center = QPointF(hp["x"], hp["y"])
        self.head_w, self.head_h = hp["width"], hp["height"]
        # the head image covers hair and ears around the face
        margin_x, margin_top, margin_bottom = self.head_margins()
        self._head_rect = QRectF(
            -self.head_w / 2 - margin_x,
            -self.head_h / 2 - margin_top,
            self.head_w + 2 * margin_x,
            self.head_h + margin_top + margin_bottom,
        )
        self._pivot = QPointF(0, self.head_h * 0.42)  # the neck: the head tilts around it

    # ------------------------------------------------------------ the style

    @abstractmethod
    def head_margins(self) -> tuple[float, float, float]:
        """How far the head layer reaches beyond the head's box: sides, top, bottom (canvas pixels)."""

    @abstractmethod
    def draw_body(self, p: QPainter) -> None:
        """The body in canvas coordinates (cached per breathing step)."""

    @abstractmethod
    def draw_head(self, p: QPainter) -> None:
        """The head's base around its centre: everything but eyes, brows and mouth (cached once)."""

    @abstractmethod
    def eye_outline(self, ew: float, eh: float) -> QPainterPath:
        """The open eye's shape around its centre, ``ew`` x ``eh`` half sizes."""

    @abstractmethod
    def draw_open_lid(self, p: QPainter, params: RigParams, eye: EyeGeometry) -> None:
        """The upper lid line of an open eye (the painter's pen is the lash pen)."""

    @abstractmethod
    def draw_lips(self, p: QPainter, params: RigParams, g: MouthGeometry) -> None:
        """The lips around the opening (drawn over the inside of the mouth)."""

    # --------------------------------------------------------------- public

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

    # ----------------------------------------------------------- transforms

    def _base_transform(self) -> QTransform:
        t = QTransform()
        t.translate(self.offset.x(), self.offset.y())
        t.scale(self.scale, self.scale)
        return t

    def _breath_offset(self, breathing: float) -> float:
        return -6.0 * breathing * self.breath_scale

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

    # --------------------------------------------------------------- caches

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
            self.draw_body(p)
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
            self.draw_head(p)
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
        panel = mix(pal["background_top"], QColor(255, 255, 255), 0.5)
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

    # -------------------------------------------------------- live features

    def _draw_face(self, p: QPainter, params: RigParams) -> None:
        turn = params.head_turn * 26
        p.translate(turn, 0)
        self._draw_eyes(p, params)
        self._draw_brows(p, params)
        p.translate(0, self.pack.parts["mouth"]["y"])
        self._draw_mouth(p, params)

    def _draw_eyes(self, p: QPainter, params: RigParams) -> None:
        pal, e = self.pal, self.pack.parts["eyes"]
        ew, eh = e["width"] / 2, e["height"] / 2
        # smiling pushes the lower lids up a little
        squint = 0.18 * max(params.smile, 0.0)
        open_top = 1.0 - params.blink
        for side in (-1, 1):
            c = QPointF(side * e["spacing"] / 2, e["y"])
            p.save()
            p.translate(c)
            outline = self.eye_outline(ew, eh)
            # lid opening: top edge comes down with blink, bottom edge up with smile
            top_y = -eh * 1.4 + (eh * 2.4) * params.blink
            bottom_y = eh * 1.4 - eh * 2.0 * squint
            lid = QPainterPath()
            lid.addRect(QRectF(-ew * 1.3, top_y, ew * 2.6, max(bottom_y - top_y, 0.0)))
            eye = EyeGeometry(outline, lid, ew, eh, top_y)
            if open_top > 0.08:
                self._draw_eyeball(p, params, eye)
            # the lid line (lashes) follows the lid's top edge
            p.setPen(QPen(pal["lash"], self.lash_width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.setBrush(Qt.BrushStyle.NoBrush)
            if open_top <= 0.08:
                closed = QPainterPath(QPointF(-ew, 0))
                closed.quadTo(QPointF(0, eh * 0.55), QPointF(ew, 0))
                p.drawPath(closed)
            else:
                self.draw_open_lid(p, params, eye)
            p.restore()

    def _draw_eyeball(self, p: QPainter, params: RigParams, eye: EyeGeometry) -> None:
        """The white, the iris following the gaze, the highlights and the lid's shadow, clipped to the opening."""
        pal, e = self.pal, self.pack.parts["eyes"]
        outline, ew, eh, top_y = eye.outline, eye.ew, eye.eh, eye.top_y
        p.setPen(Qt.PenStyle.NoPen)
        clip = outline.intersected(eye.lid)
        p.setClipPath(clip)
        p.setBrush(pal["eye_white"])
        p.drawPath(outline)
        # iris follows gaze
        ir = min(ew, eh) * e["iris"] * self.iris_scale
        gx = params.gaze_x * ew * 0.35
        gy = params.gaze_y * eh * 0.3
        ig = QRadialGradient(QPointF(gx, gy), ir)
        ig.setColorAt(0, mix(pal["iris"], QColor(255, 255, 255), 0.25))
        ig.setColorAt(0.75, pal["iris"])
        ig.setColorAt(1, mix(pal["iris"], QColor(0, 0, 0), 0.45))
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

    def mouth_geometry(self, params: RigParams) -> MouthGeometry:
        """The mouth's shape from jaw, width, rounding, press, smile and teeth-lip."""
        m = self.pack.parts["mouth"]
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
        return MouthGeometry(
            jaw=jaw,
            rnd=rnd,
            smile=smile,
            lt=lt,
            hw=hw,
            opening=opening,
            top_in=top_in,
            bottom_in=bottom_in,
            corner_y=corner_y,
            roundness=roundness,
            left=left,
            right=right,
            inner=inner,
            open_enough=opening > 1.5,
        )

    def _draw_mouth(self, p: QPainter, params: RigParams) -> None:
        """The inside of the mouth (teeth, tongue) when it is open, then the style's lips."""
        g = self.mouth_geometry(params)
        p.setPen(Qt.PenStyle.NoPen)
        if g.open_enough:
            self._draw_mouth_inside(p, params, g)
        self.draw_lips(p, params, g)

    def _draw_mouth_inside(self, p: QPainter, params: RigParams, g: MouthGeometry) -> None:
        pal = self.pal
        hw, top_in, bottom_in, opening = g.hw, g.top_in, g.bottom_in, g.opening
        ig = QLinearGradient(0, top_in, 0, bottom_in)
        ig.setColorAt(0, mix(pal["mouth_inside"], QColor(0, 0, 0), 0.35))
        ig.setColorAt(1, pal["mouth_inside"])
        p.setBrush(ig)
        p.drawPath(g.inner)
        p.save()
        p.setClipPath(g.inner)
        teeth_h = max(g.lt * 0.75, 6.0)
        p.setBrush(pal["teeth"])
        upper_teeth = QRectF(-hw * 0.72, top_in - 4, hw * 1.44, teeth_h + 4 + 6 * params.teeth_lip)
        p.drawRoundedRect(upper_teeth, 5, 5)
        if g.jaw < 0.45 and self.lower_teeth:
            p.drawRoundedRect(QRectF(-hw * 0.6, bottom_in - teeth_h * 0.7, hw * 1.2, teeth_h), 4, 4)
        tongue_y = bottom_in - opening * 0.25 - params.tongue * opening * 0.35
        tg = QRadialGradient(QPointF(0, tongue_y), hw * 0.8)
        tg.setColorAt(0, mix(pal["tongue"], QColor(255, 255, 255), 0.15))
        tg.setColorAt(1, mix(pal["tongue"], QColor(0, 0, 0), 0.15))
        p.setBrush(tg)
        p.drawEllipse(QPointF(0, tongue_y + opening * 0.35), hw * 0.62, opening * 0.45 + 4)
        p.restore()
