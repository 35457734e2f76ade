"""Avatar packs, viseme tracks, the audio-to-mouth model and the frame renderer.

Never opens audio devices.
"""
