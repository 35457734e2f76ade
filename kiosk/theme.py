"""The kiosk's Qt stylesheet: one palette per contrast mode, optional large text.

Widgets are styled by objectName (``QLabel#caption``) or by the ``class``
property (``chip``); :func:`stylesheet` builds every rule from :data:`PALETTES`
and one table of font sizes, so a mode never needs a second copy of the rules.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

LARGE_TEXT_SCALE: Final = 1.4

_NORMAL: Final = {
    "background": "#0f2a44",
    "text": "#ffffff",
    "muted": "#bcd3ea",
    "caption_bg": "#ffffff",
    "caption_text": "#0f2a44",
    "accent": "#f2b233",
    "accent_text": "#0f2a44",
    "accent_pressed": "#d99a1e",
    "surface": "#1e4b78",
    "surface_pressed": "#2d6aa6",
    "surface_text": "#ffffff",
    "border": "#4f86bd",
    "panel": "#0a1f33",
    "key_bg": "#24507d",
    "key_text": "#ffffff",
    "key_special_bg": "#163a5e",
    "key_special_text": "#dce9f6",
    "input_bg": "#ffffff",
    "input_text": "#0f2a44",
    "warning_bg": "#ffb300",
    "warning_text": "#1b1300",
    "warning_border": "#ffd666",
    "error_bg": "#fdecea",
    "error_text": "#7a1c14",
    "error_border": "#f2a79f",
    "level_bg": "#163a5e",
    "level_chunk": "#4cc38a",
    "disabled_bg": "#1a3550",
    "disabled_text": "#8aa4bf",
}

_HIGH_CONTRAST: Final = {
    "background": "#000000",
    "text": "#ffffff",
    "muted": "#ffff00",
    "caption_bg": "#000000",
    "caption_text": "#ffff00",
    "accent": "#ffff00",
    "accent_text": "#000000",
    "accent_pressed": "#ffffff",
    "surface": "#000000",
    "surface_pressed": "#333333",
    "surface_text": "#ffffff",
    "border": "#ffffff",
    "panel": "#000000",
    "key_bg": "#000000",
    "key_text": "#ffffff",
    "key_special_bg": "#000000",
    "key_special_text": "#ffff00",
    "input_bg": "#000000",
    "input_text": "#ffffff",
    "warning_bg": "#ffff00",
    "warning_text": "#000000",
    "warning_border": "#ffffff",
    "error_bg": "#000000",
    "error_text": "#ffffff",
    "error_border": "#ffff00",
    "level_bg": "#000000",
    "level_chunk": "#ffff00",
    "disabled_bg": "#000000",
    "disabled_text": "#c0c0c0",
}

PALETTES: Final = MappingProxyType(
    {"normal": MappingProxyType(_NORMAL), "high_contrast": MappingProxyType(_HIGH_CONTRAST)}
)
"""Colours by mode; both modes have the same keys."""

# Base font sizes in px, before the large-text scale.
_FONT_SIZES: Final = MappingProxyType(
    {
        "title": 34,
        "hint": 22,
        "answer": 28,
        "status": 18,
        "button": 22,
        "input": 24,
        "caption": 32,
        "transcript": 24,
        "state": 18,
        "tool": 20,
        "warning": 24,
        "error": 22,
        "key": 24,
        "key_special": 20,
        "pin_key": 30,
        "pin_dots": 36,
        "pin_message": 20,
    }
)

# Border widths in px: thick white outlines in high contrast.
_BORDERS: Final = MappingProxyType({"normal": 2, "high_contrast": 4})

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    if not _HEX.match(color):
        raise ValueError(f"expected a colour like '#rrggbb', got {color!r}")
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours, from 1.0 to 21.0 (order does not matter)."""
    a, b = relative_luminance(fg), relative_luminance(bg)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


def font_sizes(*, large_text: bool = False) -> dict[str, int]:
    """Font sizes in px by role, scaled by :data:`LARGE_TEXT_SCALE` for large text."""
    scale = LARGE_TEXT_SCALE if large_text else 1.0
    return {role: round(size * scale) for role, size in _FONT_SIZES.items()}


def stylesheet(*, large_text: bool = False, high_contrast: bool = False) -> str:
    """The application stylesheet for one text size and contrast mode."""
    mode = "high_contrast" if high_contrast else "normal"
    p = PALETTES[mode]
    f = font_sizes(large_text=large_text)
    bw = _BORDERS[mode]
    return f"""
QWidget#kiosk {{ background: {p["background"]}; }}
QLabel#title {{ color: {p["text"]}; font-size: {f["title"]}px; font-weight: 600; }}
QLabel#hint {{ color: {p["muted"]}; font-size: {f["hint"]}px; }}
QLabel#answer {{ color: {p["caption_text"]}; background: {p["caption_bg"]}; border: {bw}px solid {p["caption_bg"] if mode == "normal" else p["border"]}; border-radius: 18px; padding: 28px; font-size: {f["answer"]}px; }}
QLabel#caption {{ color: {p["caption_text"]}; background: {p["caption_bg"]}; border: {bw}px solid {p["caption_bg"] if mode == "normal" else p["border"]}; border-radius: 18px; padding: 24px 28px; font-size: {f["caption"]}px; font-weight: 500; }}
QLabel#transcript {{ color: {p["text"]}; font-size: {f["transcript"]}px; font-style: italic; padding: 4px 8px; }}
QLabel#status {{ color: {p["muted"]}; font-size: {f["status"]}px; }}
QLabel#state {{ color: {p["surface_text"]}; background: {p["surface"]}; border: {bw}px solid {p["border"]}; border-radius: 18px; padding: 6px 18px; font-size: {f["state"]}px; font-weight: 600; }}
QLabel#warning {{ color: {p["warning_text"]}; background: {p["warning_bg"]}; border: {bw + 1}px solid {p["warning_border"]}; border-radius: 14px; padding: 16px 24px; font-size: {f["warning"]}px; font-weight: 700; }}
QLabel#error {{ color: {p["error_text"]}; background: {p["error_bg"]}; border: {bw}px solid {p["error_border"]}; border-radius: 14px; padding: 16px 24px; font-size: {f["error"]}px; }}
QPushButton {{ min-height: 64px; font-size: {f["button"]}px; border-radius: 14px; padding: 8px 18px; }}
QPushButton:disabled {{ color: {p["disabled_text"]}; background: {p["disabled_bg"]}; }}
QPushButton.chip {{ background: {p["surface"]}; color: {p["surface_text"]}; border: {bw}px solid {p["border"]}; text-align: left; }}
QPushButton.chip:pressed {{ background: {p["surface_pressed"]}; }}
QPushButton#ask {{ background: {p["accent"]}; color: {p["accent_text"]}; border: {bw}px solid {p["accent"]}; font-weight: 600; min-width: 140px; }}
QPushButton#ask:pressed {{ background: {p["accent_pressed"]}; }}
QPushButton#ask:disabled {{ color: {p["disabled_text"]}; background: {p["disabled_bg"]}; border-color: {p["disabled_bg"]}; }}
QPushButton#tool {{ min-height: 64px; min-width: 64px; font-size: {f["tool"]}px; color: {p["surface_text"]}; background: {p["surface"]}; border: {bw}px solid {p["border"]}; border-radius: 14px; padding: 6px 16px; }}
QPushButton#tool:pressed, QPushButton#tool:checked {{ background: {p["surface_pressed"]}; }}
QLineEdit {{ min-height: 64px; font-size: {f["input"]}px; border-radius: 14px; padding: 0 18px; color: {p["input_text"]}; background: {p["input_bg"]}; border: {bw}px solid {p["border"]}; }}
QProgressBar#level {{ min-height: 12px; max-height: 12px; border: {bw if mode == "high_contrast" else 0}px solid {p["border"]}; border-radius: 6px; background: {p["level_bg"]}; text-align: center; }}
QProgressBar#level::chunk {{ background: {p["level_chunk"]}; border-radius: 6px; }}
QWidget#keyboard {{ background: {p["panel"]}; border-top: {bw}px solid {p["border"]}; }}
QPushButton#key {{ min-height: 56px; min-width: 56px; padding: 0; font-size: {f["key"]}px; color: {p["key_text"]}; background: {p["key_bg"]}; border: {bw}px solid {p["key_bg"] if mode == "normal" else p["border"]}; border-radius: 10px; }}
QPushButton#key:pressed {{ background: {p["surface_pressed"]}; }}
QPushButton#key-special {{ min-height: 56px; min-width: 56px; padding: 0 10px; font-size: {f["key_special"]}px; font-weight: 600; color: {p["key_special_text"]}; background: {p["key_special_bg"]}; border: {bw}px solid {p["key_special_bg"] if mode == "normal" else p["border"]}; border-radius: 10px; }}
QPushButton#key-special:pressed {{ background: {p["surface_pressed"]}; }}
QPushButton#key-special:checked {{ color: {p["accent_text"]}; background: {p["accent"]}; border-color: {p["accent"]}; }}
QPushButton#key-special[accent="true"] {{ color: {p["accent_text"]}; background: {p["accent"]}; border-color: {p["accent"]}; }}
QPushButton#key-special[accent="true"]:pressed {{ background: {p["accent_pressed"]}; }}
QDialog#pin {{ background: {p["background"]}; border: {bw}px solid {p["border"]}; border-radius: 18px; }}
QDialog#pin QLabel#pin-title {{ color: {p["text"]}; font-size: {f["pin_message"]}px; font-weight: 600; }}
QDialog#pin QLabel#pin-dots {{ color: {p["caption_text"]}; background: {p["caption_bg"]}; border: {bw}px solid {p["border"]}; border-radius: 14px; min-height: 64px; font-size: {f["pin_dots"]}px; }}
QDialog#pin QLabel#pin-message {{ color: {p["muted"]}; font-size: {f["pin_message"]}px; }}
QDialog#pin QLabel#pin-message[alert="true"] {{ color: {p["warning_text"]}; background: {p["warning_bg"]}; border-radius: 10px; padding: 6px 12px; font-weight: 600; }}
QDialog#pin QPushButton {{ min-height: 72px; min-width: 72px; padding: 0; font-size: {f["pin_key"]}px; color: {p["key_text"]}; background: {p["key_bg"]}; border: {bw}px solid {p["key_bg"] if mode == "normal" else p["border"]}; border-radius: 14px; }}
QDialog#pin QPushButton:pressed {{ background: {p["surface_pressed"]}; }}
QDialog#pin QPushButton:disabled {{ color: {p["disabled_text"]}; background: {p["disabled_bg"]}; border-color: {p["disabled_bg"]}; }}
QDialog#pin QPushButton#pin-ok {{ color: {p["accent_text"]}; background: {p["accent"]}; border-color: {p["accent"]}; font-weight: 700; }}
QDialog#pin QPushButton#pin-special {{ color: {p["key_special_text"]}; background: {p["key_special_bg"]}; font-size: {f["key_special"]}px; }}
QDialog#pin QPushButton#pin-ok:disabled, QDialog#pin QPushButton#pin-special:disabled {{ color: {p["disabled_text"]}; background: {p["disabled_bg"]}; border-color: {p["disabled_bg"]}; }}
""".strip()
