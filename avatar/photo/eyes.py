"""Closing eyelids: the warp brings the upper lid down; this paints the lid's lit skin and its lashes over the eye.

Stretching the thin, often shadowed strip of skin above an open eye gives a dark
smear, and the squeezed eye leaves bits of iris and white along the line where
the lids meet. The region the lid has swept over is painted with the skin just
under the eye (a little darker, lit from above like a convex lid), keeping some
of the warped texture, and a soft line of lashes follows the lid's edge.
"""

from __future__ import annotations

import cv2
import numpy as np


def paint_lid(
    frame: np.ndarray,
    rest_upper: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    skin_bgr: np.ndarray,
    amount: float,
    softness: float = 0.6,
) -> None:
    """Paint one eye's lid in ``frame`` (H x W x 4, in place). Lids run corner to corner (outer, ..., inner);
    ``rest_upper`` is the open lid, ``upper`` where it is now, ``lower`` the lower lid; ``amount`` 0..1 closed."""
    if amount < 0.05:
        return
    eye_w = float(np.linalg.norm(rest_upper[0] - rest_upper[-1]))
    pad = int(3 + 0.25 * eye_w)
    pts = np.concatenate([rest_upper, upper[::-1], lower])
    x0, y0 = (np.floor(pts.min(axis=0)) - pad).astype(int)
    x1, y1 = (np.ceil(pts.max(axis=0)) + pad).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, frame.shape[1]), min(y1, frame.shape[0])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    h, w = y1 - y0, x1 - x0
    origin = np.array([x0, y0], np.float64)
    # the swept lid: between the open lid's line (raised a little: the fold) and its edge now
    fold = rest_upper - np.array([0.0, 0.08 * eye_w])
    region = np.concatenate([fold, upper[::-1]])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round((region - origin) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    a = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(0.8, 0.06 * eye_w))
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)
    order = np.argsort(upper[:, 0])
    edge = np.interp(xs, upper[order, 0], upper[order, 1])[None, :]
    top = np.interp(xs, fold[np.argsort(fold[:, 0]), 0], fold[np.argsort(fold[:, 0]), 1])[None, :]
    t = np.clip((ys - top) / np.maximum(edge - top, 1.0), 0, 1)  # 0 at the fold, 1 at the lashes
    shade = 0.98 - 0.18 * t**2  # a convex lid: lit on top, darker towards the lashes
    colour = skin_bgr[None, None, :] * shade[..., None]
    k = float(np.clip((amount - 0.05) / 0.45, 0, 1)) * 0.85  # let some of the warped skin show through
    patch = frame[y0:y1, x0:x1, :3].astype(np.float32)
    patch = patch * (1 - k * a[..., None]) + colour * (k * a[..., None])
    # the lashes along the lid's edge, stronger as it closes
    lash = np.zeros((h, w), np.uint8)
    line = np.round((upper - origin) * 16).astype(np.int32)
    width = max(1, round(0.035 * eye_w))
    cv2.polylines(lash, [line], False, 255, width, cv2.LINE_AA, shift=4)
    la = cv2.GaussianBlur(lash.astype(np.float32) / 255.0, (0, 0), max(0.5, softness))
    la *= 0.6 * float(np.clip((amount - 0.3) / 0.5, 0, 1))
    patch = patch * (1 - la[..., None]) + (skin_bgr * 0.22)[None, None, :] * la[..., None]
    frame[y0:y1, x0:x1, :3] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
