"""The ``human`` style: the drawn presenter, a person in a blazer with a bob, lips and a badge.

Vector paths on the :class:`~avatar.render.drawn.DrawnStyle` pipeline: this
module draws the body, the head's base, almond eyes with lashes and a crease,
and full lips with a cupid's bow, a seam and smile dimples.
"""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QLinearGradient, QPainter, QPainterPath, QPen, QRadialGradient

from avatar.render.drawn import DrawnStyle, EyeGeometry, MouthGeometry
from avatar.render.paint import draw_badge, mix, soft_shadow
from avatar.rig import RigParams


class HumanStyle(DrawnStyle):
    """A drawn human presenter (the ``presenter`` pack)."""

    style = "human"
    iris_scale = 1.35
    lash_width = 8.0
    lower_teeth = True

    def head_margins(self) -> tuple[float, float, float]:
        # the hair reaches out to 1.32 x volume of the half width
        vol = self.pack.parts["hair"]["volume"]
        margin_x = max(0.05, 0.66 * vol - 0.5 + 0.05) * self.head_w
        margin_top = max(0.05, 0.61 * vol - 0.5 + 0.06) * self.head_h
        margin_bottom = 0.06 * self.head_h
        return margin_x, margin_top, margin_bottom

    # ------------------------------------------------------------- cached

    def _face_path(self) -> QPainterPath:
        """The face's outline: a rounded oval narrowing to the chin."""
        w, h = self.head_w / 2, self.head_h / 2
        path = QPainterPath(QPointF(0, -h))
        path.cubicTo(QPointF(w * 0.62, -h), QPointF(w, -h * 0.68), QPointF(w, -h * 0.12))
        path.cubicTo(QPointF(w, h * 0.3), QPointF(w * 0.72, h * 0.72), QPointF(w * 0.3, h * 0.93))
        path.cubicTo(QPointF(w * 0.12, h * 1.01), QPointF(-w * 0.12, h * 1.01), QPointF(-w * 0.3, h * 0.93))
        path.cubicTo(QPointF(-w * 0.72, h * 0.72), QPointF(-w, h * 0.3), QPointF(-w, -h * 0.12))
        path.cubicTo(QPointF(-w, -h * 0.68), QPointF(-w * 0.62, -h), QPointF(0, -h))
        return path

    def draw_body(self, p: QPainter) -> None:
        """Neck, shirt, blazer with lapels, the scarf, buttons and the badge."""
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
        g.setColorAt(0.45, mix(pal["skin_shadow"], pal["skin"], 0.6))
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
        soft_shadow(p, blazer, shadow, 18)
        p.restore()
        g = QLinearGradient(cx - sw, top, cx + sw, top + 300)
        g.setColorAt(0.0, pal["outfit_shadow"])
        g.setColorAt(0.35, pal["outfit"])
        g.setColorAt(0.65, mix(pal["outfit"], QColor(255, 255, 255), 0.08))
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
            lg.setColorAt(0, mix(pal["outfit"], QColor(255, 255, 255), 0.12))
            lg.setColorAt(1, pal["outfit_shadow"])
            p.setBrush(lg)
            p.setPen(QPen(mix(pal["outfit_shadow"], QColor(0, 0, 0), 0.3), 2.5))
            p.drawPath(lapel)
        p.setPen(Qt.PenStyle.NoPen)
        # scarf knot and tails
        scarf = QPainterPath(QPointF(cx - nw * 1.15, top + 8))
        scarf.cubicTo(QPointF(cx - 40, top + 70), QPointF(cx + 40, top + 70), QPointF(cx + nw * 1.15, top + 8))
        scarf.lineTo(cx + nw * 1.05, top + 40)
        scarf.cubicTo(QPointF(cx + 40, top + 110), QPointF(cx - 40, top + 110), QPointF(cx - nw * 1.05, top + 40))
        scarf.closeSubpath()
        sg = QLinearGradient(cx - 100, top, cx + 100, top + 100)
        sg.setColorAt(0, mix(pal["accent"], QColor(255, 255, 255), 0.25))
        sg.setColorAt(1, mix(pal["accent"], QColor(0, 0, 0), 0.2))
        p.setBrush(sg)
        p.drawPath(scarf)
        tail = QPainterPath(QPointF(cx - 22, top + 85))
        tail.cubicTo(QPointF(cx - 50, top + 160), QPointF(cx - 30, top + 240), QPointF(cx - 5, top + 300))
        tail.lineTo(cx + 40, top + 280)
        tail.cubicTo(QPointF(cx + 20, top + 210), QPointF(cx + 30, top + 140), QPointF(cx + 22, top + 85))
        tail.closeSubpath()
        p.setBrush(mix(pal["accent"], QColor(0, 0, 0), 0.12))
        p.drawPath(tail)
        p.setBrush(mix(pal["accent"], QColor(255, 255, 255), 0.1))
        p.drawEllipse(QPointF(cx, top + 80), 30, 24)
        # buttons
        p.setBrush(mix(pal["outfit_shadow"], QColor(0, 0, 0), 0.3))
        for y in (top + 470, top + 570):
            p.drawEllipse(QPointF(cx + 30, y), 11, 11)
        # badge
        if self.pack.parts["badge"]["visible"]:
            draw_badge(p, self.pack, self.pal, QRectF(cx + 150, top + 300, 190, 64))

    def draw_head(self, p: QPainter) -> None:
        """Hair behind, ears, the face with cheeks and nose, then the side-swept fringe."""
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
        hg.setColorAt(1, mix(pal["hair"], QColor(0, 0, 0), 0.3))
        p.setBrush(hg)
        p.drawPath(back)
        # ears
        for side in (-1, 1):
            ear = QPainterPath()
            ear.addEllipse(QPointF(side * w * 0.98, h * 0.02), w * 0.13, h * 0.15)
            p.setBrush(pal["skin_shadow"])
            p.drawPath(ear)
            p.setBrush(mix(pal["skin"], pal["skin_shadow"], 0.3))
            p.drawEllipse(QPointF(side * w * 0.99, h * 0.02), w * 0.08, h * 0.1)
        # face
        face = self._face_path()
        fg = QRadialGradient(QPointF(-w * 0.15, -h * 0.15), h * 1.15)
        fg.setColorAt(0.0, mix(pal["skin"], QColor(255, 255, 255), 0.15))
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
        light = mix(pal["skin"], QColor(255, 255, 255), 0.35)
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
        soft_shadow(p, front.translated(0, 10), QColor(0, 0, 0, 40), 10, 4)
        fg2 = QLinearGradient(-w, -h, w * 0.5, -h * 0.3)
        fg2.setColorAt(0, pal["hair"])
        fg2.setColorAt(0.45, pal["hair_highlight"])
        fg2.setColorAt(1, pal["hair"])
        p.setBrush(fg2)
        p.drawPath(front)

    # ---------------------------------------------------------------- live

    def eye_outline(self, ew: float, eh: float) -> QPainterPath:
        outline = QPainterPath(QPointF(-ew, 0))
        outline.cubicTo(QPointF(-ew * 0.6, -eh * 1.25), QPointF(ew * 0.55, -eh * 1.3), QPointF(ew, -eh * 0.1))
        outline.cubicTo(QPointF(ew * 0.6, eh * 1.05), QPointF(-ew * 0.6, eh * 1.05), QPointF(-ew, 0))
        return outline

    def draw_open_lid(self, p: QPainter, params: RigParams, eye: EyeGeometry) -> None:
        """The lash line, flattening as the lid closes, and the crease above the eye."""
        pal, ew, eh = self.pal, eye.ew, eye.eh
        k = 1.0 - params.blink
        upper = QPainterPath(QPointF(-ew * 1.02, 0))
        upper.cubicTo(
            QPointF(-ew * 0.6, -eh * 1.25 * k + eh * (1 - k) * 0.3),
            QPointF(ew * 0.55, -eh * 1.3 * k + eh * (1 - k) * 0.3),
            QPointF(ew * 1.04, -eh * 0.12),
        )
        p.drawPath(upper)
        # crease above the eye
        crease = QColor(pal["skin_shadow"])
        crease.setAlphaF(0.7)
        p.setPen(QPen(crease, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        cr = QPainterPath(QPointF(-ew * 0.8, -eh * 1.1))
        cr.quadTo(QPointF(0, -eh * 1.75), QPointF(ew * 0.85, -eh * 1.0))
        p.drawPath(cr)

    def draw_lips(self, p: QPainter, params: RigParams, g: MouthGeometry) -> None:
        """Upper lip with a cupid's bow, a fuller lower lip (rolled in for f/v), the seam, smile dimples."""
        pal, lips = self.pal, self.pal["lips"]
        hw, lt, rnd, smile, roundness = g.hw, g.lt, g.rnd, g.smile, g.roundness
        top_in, bottom_in, corner_y, open_enough = g.top_in, g.bottom_in, g.corner_y, g.open_enough
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
        ug.setColorAt(0, mix(lips, QColor(0, 0, 0), 0.12))
        ug.setColorAt(1, mix(lips, QColor(0, 0, 0), 0.28))
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
        lg.setColorAt(0, mix(lips, QColor(0, 0, 0), 0.05))
        lg.setColorAt(0.5, mix(lips, QColor(255, 255, 255), 0.08))
        lg.setColorAt(1, mix(lips, QColor(0, 0, 0), 0.15))
        p.setBrush(lg)
        p.drawPath(lower)
        # highlight on the lower lip
        p.setBrush(QColor(255, 255, 255, 60))
        p.drawEllipse(QPointF(-hw * 0.15, (bottom_in + low_out) / 2 + 1), hw * 0.28, lt * 0.22)
        if not open_enough:
            # the seam between closed lips, darker when pressed
            seam = QColor(mix(lips, QColor(0, 0, 0), 0.5))
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
