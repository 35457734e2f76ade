"""Kiosk lock-down: keys that would leave or close the app do nothing, the screen never blanks.

The real lock-down is the session: run the kiosk under the cage compositor (no
other windows, no desktop, see the README's deployment section). Inside the
app, :class:`KeyGuard` swallows the shortcuts a visitor could try, the window
refuses to close (see ``KioskWindow.closeEvent``) and
:func:`inhibit_screen_blanking` asks the session not to blank the screen.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from PyQt6.QtCore import QEvent, QObject, Qt

_LOGGER = logging.getLogger(__name__)

BLOCKED_KEYS = {
    Qt.Key.Key_Escape,
    Qt.Key.Key_F4,
    Qt.Key.Key_Tab,
    Qt.Key.Key_Backtab,
    Qt.Key.Key_F11,
    Qt.Key.Key_Super_L,
    Qt.Key.Key_Super_R,
    Qt.Key.Key_Meta,
    Qt.Key.Key_Menu,
}
BLOCKED_WITH_CTRL = {Qt.Key.Key_W, Qt.Key.Key_Q}


def is_blocked(key: int, modifiers: Qt.KeyboardModifier) -> bool:
    """Alt+F4, Esc, Alt+Tab, Ctrl+W/Q, F11, the Windows/Menu keys."""
    alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
    ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
    if key == Qt.Key.Key_Tab and not alt:
        return False  # plain Tab moves focus between fields
    if key in BLOCKED_KEYS:
        return True
    return ctrl and key in BLOCKED_WITH_CTRL


class KeyGuard(QObject):
    """Application-wide event filter dropping the blocked shortcuts."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.blocked = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        keyed = event.type() in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride)
        if keyed and is_blocked(event.key(), event.modifiers()):
            self.blocked += 1
            return True
        return False


def inhibit_screen_blanking() -> str:
    """Keep the display on; returns how (``dbus``, ``xset`` or ``none``)."""
    try:
        from PyQt6.QtDBus import QDBusConnection, QDBusInterface

        bus = QDBusConnection.sessionBus()
        if bus.isConnected():
            saver = QDBusInterface(
                "org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver", bus
            )
            if saver.isValid():
                reply = saver.call("Inhibit", "kiosk", "visitors are using the kiosk")
                if not reply.errorMessage():
                    _LOGGER.info("screen blanking inhibited through the session's ScreenSaver service")
                    return "dbus"
    except Exception as exc:  # QtDBus missing or no session bus
        _LOGGER.debug("no D-Bus screensaver inhibit: %s", exc)
    xset = shutil.which("xset")
    if xset:
        done = subprocess.run([xset, "s", "off", "s", "noblank", "-dpms"], capture_output=True, check=False)
        if done.returncode == 0:
            _LOGGER.info("screen blanking switched off with xset")
            return "xset"
    _LOGGER.warning("cannot inhibit screen blanking here; configure the session (see the README's deployment notes)")
    return "none"
