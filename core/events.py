"""The base of every typed event the kiosk's stages pass to each other.

Each domain owns its events, next to the code that makes them:

- ``devices.events``: a microphone or speaker changed state (``DeviceChanged``);
- ``speech.events``: what the listener heard (``WakeDetected``, ``SpeechStarted``,
  ``SpeechEnded``, ``Transcript``) and what the voice said (``TTSAudio`` with its
  ``PhonemeTiming``\\ s);
- ``dialog.events``: how the kiosk answers (``AnswerStarted``, ``AnswerSentence``,
  ``AnswerFinished`` with the whole ``Answer``);
- ``runtime.events``: the turn itself (``StateChanged``, ``PlaybackStarted``,
  ``PlaybackFinished``, ``TurnFailed``).

Events are frozen dataclasses and travel in order through one callback (the turn
loop's ``emit``): the Qt window receives them through one queued signal, the
simulator collects them in a list. There is no queue of events between stages and
no priority: an interruption (barge-in, Stop, a new question) is a method call on
the turn loop that cancels the turn's token at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Base of all events."""
