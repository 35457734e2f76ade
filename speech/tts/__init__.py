"""Text to speech: one interface (:mod:`speech.tts.base`), one module per engine."""
