"""The visitor's Qt window, split by job.

- ``view.py``: widgets and layout, themes, the window's texts (no behaviour);
- ``avatar_view.py``: the avatar widget, captions and frame statistics, all driven by the speaker's clock;
- ``runner.py``: the start-up and microphone threads behind the window, and their shutdown;
- ``window.py``: ``KioskWindow``, the view driven by the turn loop's events and status, plus lock-down;
- ``launcher.py``: ``run_app``, the live audio devices and the Qt application for ``kiosk run``.
"""
