"""Wake word, voice activity / end of turn, ASR engines (vosk, pocketsphinx) and TTS (piper).

Renders nothing.
"""
