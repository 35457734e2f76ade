"""Shared primitives every package may import: errors, home directory, settings, models.

Nothing here imports Qt, torch or any model library, so ``import core`` stays fast.
"""
