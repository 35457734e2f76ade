"""The headless kiosk: the composition root, the visitor's turn loop and the simulator.

Both front ends (the Qt window in ``kiosk.window`` and the ``kiosk`` CLI) and the
benchmarks stand on this package; it never imports Qt.
"""
