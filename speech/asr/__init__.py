"""Speech recognition: one interface (:mod:`speech.asr.base`), one module per engine."""
