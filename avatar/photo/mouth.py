"""The inside of the mouth, painted where the lips part: a dark cavity, upper and lower teeth, the tongue.

A closed-mouth photo has nothing between the lips, so the opening is
synthesized per frame in the photo's own colours (taken from its lips, skin and
light when the pack was made), shaded like a cavity: darker at the back and the
corners, the upper lip's shadow on the teeth, a tongue catching a little light,
then softened to the photo's sharpness so it does not look pasted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# where one tooth ends and the next begins, across the opening (-1 .. 1)
TEETH = np.array([-1.0, -0.62, -0.5, -0.36, -0.19, 0.0, 0.19, 0.36, 0.5, 0.62, 1.0], np.float32)
UPPER = 11  # the inner loop: 11 upper points (left corner -> right corner), then the lower lip back


@dataclass(frozen=True)
class MouthColours:
    lips: np.ndarray
    skin: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    cavity: np.ndarray

    @classmethod
    def from_array(cls, values: np.ndarray) -> MouthColours:
        return cls(*(np.asarray(v, np.float32) for v in values))


def paint_inner_mouth(
    frame: np.ndarray,
    loop: np.ndarray,
    colours: MouthColours,
    *,
    mouth_width: float,
    tongue_up: float = 0.0,
    softness: float = 0.6,
    rest_gap: float = 0.0,
    grain: np.ndarray | None = None,
    texture: np.ndarray | None = None,
    bgr: bool = True,
) -> float:
    """Paint the opening bounded by ``loop`` (output pixels) into ``frame`` (H x W x 4, in place); returns its height.

    ``texture``: the person's own inside of the mouth (canonical frame, H x W x 3 float RGB, from a video)
    drawn instead of the painted one."""
    # cover the photo's own seam, carried along on both lips' inner edges (the more, the wider open)
    seam = np.clip(_gap(loop) / (0.1 * mouth_width), 0, 1)
    loop = loop.copy()
    grow = np.sin(np.linspace(0, np.pi, UPPER)) * seam
    loop[1 : UPPER - 1, 1] -= 0.012 * mouth_width * grow[1:-1]
    loop[UPPER:, 1] += 0.022 * mouth_width * grow[1:-1][::-1]
    upper = loop[:UPPER]
    lower = np.concatenate([loop[:1], loop[UPPER:][::-1], loop[UPPER - 1 : UPPER]])
    order = np.argsort(upper[:, 0])
    xs_u, ys_u = upper[order, 0], upper[order, 1]
    order = np.argsort(lower[:, 0])
    xs_l, ys_l = lower[order, 0], lower[order, 1]
    opening = float(np.max(np.interp(xs_u, xs_l, ys_l) - ys_u))
    if opening < rest_gap + 0.8:
        return max(opening, 0.0)
    pad = 3 + int(0.08 * mouth_width)
    x0 = int(max(np.floor(loop[:, 0].min()) - pad, 0))
    y0 = int(max(np.floor(loop[:, 1].min()) - pad, 0))
    x1 = int(min(np.ceil(loop[:, 0].max()) + pad, frame.shape[1]))
    y1 = int(min(np.ceil(loop[:, 1].max()) + pad, frame.shape[0]))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return opening
    h, w = y1 - y0, x1 - x0
    alpha = np.zeros((h, w), np.uint8)
    pts = np.round((loop - (x0, y0)) * 16).astype(np.int32)
    cv2.fillPoly(alpha, [pts], 255, lineType=cv2.LINE_AA, shift=4)

    xs = np.arange(x0, x1, dtype=np.float32) + 0.0
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    top = np.interp(xs, xs_u, ys_u).astype(np.float32)[None, :]
    bottom = np.interp(xs, xs_l, ys_l).astype(np.float32)[None, :]
    gap = np.maximum(bottom - top, 0.5)
    left, right = float(loop[:, 0].min()), float(loop[:, 0].max())
    t = np.clip((xs - left) / np.float32(max(right - left, 1.0)), 0, 1)[None, :]  # 0..1 across
    across = 2 * t - 1
    depth = np.clip((ys - top) / gap, 0, 1)  # 0 at the upper lip, 1 at the lower
    # the photo's own seam is not an opening: paint only what the lips part beyond it
    rest = (rest_gap + (0.034 * mouth_width) * seam) * np.sqrt(np.clip(1 - across**2, 0, 1))
    a = alpha.astype(np.float32) / 255.0 * np.clip((gap - rest - 0.3) / 1.5, 0, 1)
    light = 0.55 + 0.45 * float(np.clip(opening / (0.4 * mouth_width), 0, 1))  # wide open: light gets in
    # the colours on every other pixel of a big mouth (smooth shading; the lines between teeth are soft anyway)
    step = 2 if mouth_width > 90 else 1
    if step > 1:
        xs, ys = xs[::step], ys[::step]
        top, bottom, gap, t, across = (v[:, ::step] for v in (top, bottom, gap, t, across))
        depth = np.clip((ys - top) / gap, 0, 1)

    if texture is not None:  # the person's own mouth from a video
        col = _from_texture(texture, t, depth)
    else:
        col = _painted(colours, ys - top, bottom - ys, gap, t, across, depth, opening, mouth_width, tongue_up, light)
    col = col.astype(np.float32, copy=False)
    if softness > 0.3:  # softened where it was computed (every other pixel of a big mouth): a quarter of the work
        col = cv2.GaussianBlur(col, (0, 0), softness / step)
        a = cv2.GaussianBlur(a, (0, 0), 0.6 * softness)
    if step > 1:
        col = cv2.resize(col, (w, h), interpolation=cv2.INTER_LINEAR)
    # the lips curl in at the opening: a soft shadow on them just outside it
    ring = np.clip(_wide_blur(a, max(1.0, 0.03 * mouth_width)) - a, 0, 1)
    keep = (1.0 - 0.3 * ring) * (1.0 - a)  # how much of the lips' own pixels stays
    col = col.astype(np.float32, copy=False)
    if grain is not None:  # the photo's own grain, fixed to the screen like a camera's
        gh, gw = grain.shape
        gy, gx = y0 % gh, x0 % gw
        tile = np.tile(grain, ((gy + h) // gh + 1, (gx + w) // gw + 1))[gy : gy + h, gx : gx + w]
        col = col + tile[..., None]
    else:
        col = col.copy()
    col *= a[..., None]
    if bgr:
        col = col[..., ::-1]
    # in place, one float image: this runs every frame the mouth is open
    out = frame[y0:y1, x0:x1, :3].astype(np.float32)
    out *= keep[..., None]
    out += col
    out += 0.5
    np.clip(out, 0, 255, out=out)
    frame[y0:y1, x0:x1, :3] = out
    return opening


def _painted(
    colours: MouthColours,
    below: np.ndarray,
    above: np.ndarray,
    gap: np.ndarray,
    t: np.ndarray,
    across: np.ndarray,
    depth: np.ndarray,
    opening: float,
    mouth_width: float,
    tongue_up: float,
    light: float,
) -> np.ndarray:
    """The painted inside (RGB float) at each pixel ``below`` the upper lip and ``above`` the lower one."""
    # the cavity: dark red by the lips, darkest at the back and in the corners
    inward = np.clip(np.minimum(below, above) / np.maximum(0.5 * gap, 1.0), 0, 1)
    back = _smooth(inward) * (1.0 - 0.4 * across**2) + 0.4 * across**2
    front = colours.lips[None, None, :] * np.array([0.55, 0.32, 0.32], np.float32) * light
    col = front * (1 - back[..., None]) + colours.cavity[None, None, :] * (0.6 + 0.4 * light) * back[..., None]

    # tongue: low in the mouth, catching light on its top; raised for L/TH
    ty = 0.82 - 0.4 * tongue_up
    tongue_e = (across / 0.62) ** 2 + ((depth - (ty + 0.25)) / 0.42) ** 2
    tongue_soft = np.clip((1.0 - tongue_e) / 0.35, 0, 1)
    tongue_show = tongue_soft * float(np.clip((opening - 0.1 * mouth_width) / (0.12 * mouth_width), 0, 1))
    lit = np.clip(1.0 - 1.1 * np.abs(depth - ty), 0.3, 1.0) * (1.0 - 0.5 * across**2) * light * 0.75
    col = _over(col, colours.tongue, lit, tongue_show)

    # upper teeth: just under the upper lip, their edge following it, receding into shadow at the sides
    teeth_h = min(0.1 * mouth_width, 0.85 * opening)
    # each tooth's edge rounds off at its corners; the teeth get narrower towards the sides (perspective)
    i = np.clip(np.searchsorted(TEETH, across), 1, len(TEETH) - 1)
    left_b, right_b = TEETH[i - 1], TEETH[i]
    r = np.abs(across - (left_b + right_b) / 2) / ((right_b - left_b) / 2)
    edge = teeth_h * (1.0 - 0.3 * across**2) * (1.0 - 0.18 * r**4)
    upper_teeth = np.clip((edge - below) / 1.0 + 0.5, 0, 1) * np.clip((0.8 - np.abs(across)) / 0.15, 0, 1)
    lip_shadow = 0.7 + 0.3 * np.clip(below / max(0.3 * teeth_h, 1.0), 0, 1)
    tip = 1.0 - 0.12 * np.clip((below - 0.7 * edge) / np.maximum(0.3 * edge, 1.0), 0, 1)  # the edges: translucent
    recede = np.clip(1.0 - 0.9 * across**2, 0.1, 1.0)
    gaps = np.ones_like(t)
    for k in TEETH[2:-2]:  # faint lines between the front teeth
        gaps = gaps * (1.0 - 0.14 * np.exp(-(((across - k) * mouth_width / 2 / max(0.6, 0.01 * mouth_width)) ** 2)))
    # teeth in shadow take the mouth's red glow rather than going grey
    glow = colours.lips * np.array([0.4, 0.17, 0.15], np.float32)
    shade_u = lip_shadow * tip * recede * gaps * (0.85 + 0.15 * light)
    col = _over_lit(col, colours.teeth, glow, shade_u, upper_teeth)

    # lower teeth: a thinner band above the lower lip, in shadow, once the jaw is well open
    low_h = 0.055 * mouth_width * float(np.clip((opening - 0.28 * mouth_width) / (0.15 * mouth_width), 0, 1))
    lower_teeth = np.clip((low_h * (1.0 - 0.5 * across**2) - above) / 1.0 + 0.5, 0, 1)
    lower_teeth *= np.clip((0.4 - np.abs(across)) / 0.15, 0, 1) * (low_h > 0.5)
    col = _over_lit(col, colours.teeth, glow, 0.62 * recede * gaps, lower_teeth)
    return col


def _from_texture(texture: np.ndarray, t: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Pixels of a canonical mouth texture (H x W x 3, RGB float) at across ``t`` and ``depth``."""
    th, tw = texture.shape[:2]
    map_x = np.broadcast_to(t * tw - 0.5, depth.shape).astype(np.float32)
    map_y = (depth * th - 0.5).astype(np.float32)
    return cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur; a wide one at half the size (the same look, a quarter of the work)."""
    h, w = image.shape[:2]
    if sigma < 3.0 or min(h, w) < 16:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    small = cv2.resize(image, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / 2), (w, h), interpolation=cv2.INTER_LINEAR)


def _gap(loop: np.ndarray) -> float:
    """The largest distance between the lips of an inner loop (upper points 1..9 face lower ones 19..11)."""
    return float(np.max(loop[UPPER + 8 : UPPER - 1 : -1, 1] - loop[1 : UPPER - 1, 1]))


def _smooth(x: np.ndarray) -> np.ndarray:
    return x * x * (3 - 2 * x)


def _over_lit(col: np.ndarray, lit: np.ndarray, dark: np.ndarray, shade: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A surface between ``dark`` (shade 0) and ``lit`` (shade 1) laid over ``col`` with ``alpha``."""
    surface = dark[None, None, :] + (lit - dark)[None, None, :] * shade[..., None]
    a = alpha[..., None]
    return col * (1 - a) + surface * a


def _over(col: np.ndarray, colour: np.ndarray, shade: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour`` times ``shade`` laid over ``col`` with ``alpha`` (all per pixel)."""
    a = alpha[..., None]
    return col * (1 - a) + colour[None, None, :] * shade[..., None] * a
