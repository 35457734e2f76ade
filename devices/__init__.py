"""Audio in and out through sounddevice, plus a WAV-file backend for tests and headless runs.

Knows nothing about FAQs.
"""
