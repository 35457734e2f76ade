"""The complete visitor turn on WAV files, with no screen or sound card (``kiosk simulate``).

Each file is a visitor: it is fed as the microphone (as fast as possible) to
the same :class:`~runtime.turn_loop.TurnLoop` the Qt window drives, with a
WAV sink as the speaker. A file in which no wake phrase is heard is played
again as a tap-to-talk turn. Latencies are what a visitor would wait: the
end-of-turn silence (stream time) plus the processing after it (wall time).
With a frames directory the avatar is rendered at its frame rate over the
spoken answer, the mouth sampled from the speaker clock as on screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from core.events import Event
from devices.files import WavFileSink, WavFileSource
from dialog.events import AnswerFinished, AnswerStarted
from runtime.events import PlaybackStarted, StateChanged
from runtime.services import KioskServices
from speech.events import Transcript, WakeDetected

_LOGGER = logging.getLogger(__name__)


@dataclass
class SimulatedTurn:
    file: str
    wake: list[float] = field(default_factory=list)
    tap: bool = False
    transcript: str = ""
    answer: str = ""
    mode: str = ""
    decided_mode: str = ""  # what the policy chose first (generated can fall back to the entry's text)
    faq_id: str | None = None
    score: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    states: list[str] = field(default_factory=list)
    answer_audio_s: float = 0.0
    frames: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "wake": [{"t": t} for t in self.wake],
            "tap": self.tap,
            "transcript": self.transcript,
            "answer": self.answer,
            "mode": self.mode,
            "decided_mode": self.decided_mode,
            "faq_id": self.faq_id,
            "score": None if self.score is None else round(self.score, 4),
            "timings_ms": self.timings_ms,
            "states": self.states,
            "answer_audio_s": round(self.answer_audio_s, 3),
            "frames": self.frames,
        }


class Simulator:
    def __init__(
        self, services: KioskServices, *, kb: str | None = None, warm: bool = True, realtime: bool = False
    ) -> None:
        """``realtime`` feeds each file at the microphone's pace; otherwise as fast as possible, and work an
        engine does in the background while the visitor pauses (moonshine) is not overlapped with the pause."""
        self.services = services
        self.realtime = realtime
        self.kb = kb
        self._warm = warm
        self._warmed = False

    def _pass(self, source: WavFileSource, *, tap: bool) -> tuple[list[Event], WavFileSink]:
        events: list[Event] = []
        sink = WavFileSink()
        wake_on = self.services.settings.wake.enabled and not tap
        listener = self.services.listener(require_wake=wake_on)
        # answers on this thread; in real time the words at a pause are decided on the decide worker, as live
        loop = self.services.turn_loop(
            sink=sink,
            emit=events.append,
            listener=listener,
            kb=self.kb,
            synchronous=True,
            decide_inline=not self.realtime,
        )
        if self._warm and not self._warmed:
            loop.warm()
            self._warmed = True
        loop.start()
        if tap:
            loop.tap()
        for block in source.blocks():
            loop.feed(block)
        loop.finish_stream()
        return events, sink

    def run(
        self, path: Path, frames_dir: Path | None = None, frame_size: tuple[int, int] = (360, 640)
    ) -> SimulatedTurn:
        # a missing or broken file fails here, with its name
        source = WavFileSource(path, tail_silence_s=1.5, realtime=self.realtime)
        events, sink = self._pass(source, tap=False)
        tapped = not any(isinstance(e, WakeDetected) for e in events)
        if tapped:
            events, sink = self._pass(source, tap=True)
        turn = SimulatedTurn(file=str(path), tap=tapped)
        turn.wake = [e.t for e in events if isinstance(e, WakeDetected)]
        turn.states = [e.state for e in events if isinstance(e, StateChanged)]
        finals = [e.text for e in events if isinstance(e, Transcript) and e.final and e.text]
        turn.transcript = finals[0] if finals else ""
        started = [e for e in events if isinstance(e, AnswerStarted)]
        turn.decided_mode = started[0].mode if started else ""
        finished = [e for e in events if isinstance(e, AnswerFinished)]
        if finished:
            first = finished[0]
            turn.answer, turn.mode = first.answer.text, first.answer.mode
            turn.faq_id, turn.score = first.answer.faq_id, first.answer.score
            turn.timings_ms = {k: round(v, 1) for k, v in first.timings_ms.items()}
        if sink.sample_rate:
            turn.answer_audio_s = len(sink.audio) / sink.sample_rate
        if frames_dir is not None and finished:
            turn.frames = self._frames(events, sink, frames_dir / Path(path).stem, frame_size)
        return turn

    def _frames(self, events: list[Event], sink: WavFileSink, out: Path, size: tuple[int, int]) -> int:
        """Avatar frames over the answer's audio (plus the answer as WAV), the mouth read from the speaker clock."""
        from avatar.live import LiveAvatar
        from avatar.pack import load_pack
        from devices.wav import write_wav

        settings = self.services.settings
        pack = load_pack(settings.avatar.name, self.services.home.root)
        fps = settings.avatar.fps
        live = LiveAvatar(pack, fps=fps)
        played = [e for e in events if isinstance(e, PlaybackStarted)]
        rate = sink.sample_rate or 22050
        for e in played:
            live.speak(e.audio, now=e.start_sample / rate, start_sample=e.start_sample)
        live.wait_idle()
        out.mkdir(parents=True, exist_ok=True)
        write_wav(out / "answer.wav", sink.audio, rate)
        n = int(len(sink.audio) / rate * fps) + 1
        for i in range(n):
            now = i / fps
            live.frame(now, int(now * rate), *size).save(str(out / f"frame_{i:05d}.png"))
        return n
