"""The visitor-facing kiosk: the ``kiosk`` CLI, the Qt application and the turn loop.

Wires every other package from one settings object; holds no model or storage code.
"""
