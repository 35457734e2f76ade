"""The ``mascot`` style: Pip, a round, soft cartoon guide with big eyes and a cartoon mouth.

Vector paths on the :class:`~avatar.render.drawn.DrawnStyle` pipeline: this
module draws the body, the head's base, round eyes with a soft outline, and a
mouth that is an outline only (no separate lips).
"""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QLinearGradient, QPainter, QPainterPath, QPen, QRadialGradient, QTransform

from avatar.render.drawn import DrawnStyle, EyeGeometry, MouthGeometry
from avatar.render.paint import draw_badge, mix, soft_shadow
from avatar.rig import RigParams


class MascotStyle(DrawnStyle):
    """A drawn cartoon mascot (the ``mascot`` pack)."""

    style = "mascot"
    breath_scale = 1.3
    iris_scale = 1.0
    lash_width = 6.0
    lower_teeth = False

    def head_margins(self) -> tuple[float, float, float]:
        # ears, tuft and the soft shadow
        return 0.06 * self.head_w, 0.22 * self.head_h, 0.1 * self.head_h

    # ------------------------------------------------------------- cached

    def draw_body(self, p: QPainter) -> None:
        """A soft round body with a belly patch, little arms, the scarf and the badge."""
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
        soft_shadow(p, shape, QColor(0, 0, 0, 45), 24)
        p.restore()
        g = QLinearGradient(cx - sw, 0, cx + sw, 0)
        g.setColorAt(0, pal["outfit_shadow"])
        g.setColorAt(0.4, pal["outfit"])
        g.setColorAt(0.6, mix(pal["outfit"], QColor(255, 255, 255), 0.1))
        g.setColorAt(1, pal["outfit_shadow"])
        p.setBrush(g)
        p.drawPath(shape)
        # belly patch
        belly = QPainterPath()
        belly.addEllipse(QPointF(cx, top + 420), sw * 0.58, 330)
        bg = QRadialGradient(QPointF(cx - 40, top + 360), sw * 0.7)
        bg.setColorAt(0, mix(pal["shirt"], QColor(255, 255, 255), 0.5))
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
        sg.setColorAt(0, mix(pal["accent"], QColor(255, 255, 255), 0.25))
        sg.setColorAt(1, mix(pal["accent"], QColor(0, 0, 0), 0.15))
        p.setBrush(sg)
        p.drawPath(scarf)
        tail = QPainterPath(QPointF(cx + 90, top + 40))
        tail.cubicTo(QPointF(cx + 120, top + 140), QPointF(cx + 100, top + 220), QPointF(cx + 130, top + 270))
        tail.lineTo(cx + 190, top + 250)
        tail.cubicTo(QPointF(cx + 170, top + 190), QPointF(cx + 180, top + 110), QPointF(cx + 160, top + 30))
        tail.closeSubpath()
        p.setBrush(mix(pal["accent"], QColor(0, 0, 0), 0.1))
        p.drawPath(tail)
        if self.pack.parts["badge"]["visible"]:
            draw_badge(p, self.pack, self.pal, QRectF(cx - 250, top + 150, 180, 60))

    def draw_head(self, p: QPainter) -> None:
        """Round ears, a rounded-blob head with a face patch, a tuft, cheeks and a small nose."""
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
        soft_shadow(p, head.translated(0, 16), QColor(0, 0, 0, 40), 20, 5)
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
        fg.setColorAt(0, mix(pal["skin"], QColor(255, 255, 255), 0.5))
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

    # ---------------------------------------------------------------- live

    def eye_outline(self, ew: float, eh: float) -> QPainterPath:
        outline = QPainterPath()
        outline.addEllipse(QPointF(0, 0), ew, eh)
        return outline

    def draw_open_lid(self, p: QPainter, params: RigParams, eye: EyeGeometry) -> None:
        """A soft outline around the visible part of the eye, then the lid: an arc when open, a line as it closes."""
        pal, ew, eh, top_y = self.pal, eye.ew, eye.eh, eye.top_y
        p.setPen(QPen(pal["lash"], 5.0))
        p.drawPath(eye.outline.intersected(eye.lid) if params.blink > 0.02 else eye.outline)
        p.setPen(QPen(pal["lash"], self.lash_width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        if params.blink <= 0.02:
            rect = QRectF(-ew, -eh, 2 * ew, 2 * eh)
            upper = QPainterPath()
            upper.arcMoveTo(rect, 160)
            upper.arcTo(rect, 160, -140)
        else:
            upper = QPainterPath(QPointF(-ew * 0.98, max(top_y, -eh * 0.95)))
            upper.lineTo(ew * 0.98, max(top_y, -eh * 0.95))
        p.drawPath(upper)

    def draw_lips(self, p: QPainter, params: RigParams, g: MouthGeometry) -> None:
        """A cartoon mouth: a soft outline of the opening, or a curved line when closed; teeth on f/v."""
        pal, hw, smile, corner_y, top_in = self.pal, g.hw, g.smile, g.corner_y, g.top_in
        pen = QPen(pal["lips"], g.lt, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if g.open_enough:
            p.drawPath(g.inner)
        else:
            line = QPainterPath(g.left)
            line.cubicTo(
                QPointF(-hw * 0.4, corner_y + 10 + smile * 16), QPointF(hw * 0.4, corner_y + 10 + smile * 16), g.right
            )
            p.drawPath(line)
        if params.teeth_lip > 0.2:
            p.setPen(QPen(pal["teeth"], 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            p.drawLine(QPointF(-hw * 0.35, top_in + 2), QPointF(hw * 0.35, top_in + 2))
