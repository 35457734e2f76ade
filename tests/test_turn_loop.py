"""The turn loop without a screen: simulator contract, barge-in, self-hearing, timers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from devices.base import BLOCK, SAMPLE_RATE, AudioSink, resample, to_blocks
from devices.wav import write_wav
from runtime.events import PlaybackFinished, StateChanged
from speech.events import SpeechEnded, Transcript, WakeDetected

pytestmark = [pytest.mark.models]


class ClockedSink(AudioSink):
    """A speaker whose clock runs in wall time, like a sound card (without the sound card).

    ``set_speed(0)`` holds its clock (what is queued stays playing) so a test on a busy machine cannot
    miss the moment the kiosk speaks; ``set_speed(1)`` lets it play on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base = 0  # samples played before the current queue
        self._queued = 0
        self._since = time.monotonic()
        self._speed = 1.0
        self.rate = 22050
        self.stopped_at: float | None = None

    def _now(self) -> int:
        return self._base + min(self._queued, int((time.monotonic() - self._since) * self.rate * self._speed))

    def set_speed(self, speed: float) -> None:
        with self._lock:
            now = self._now()
            self._queued -= now - self._base
            self._base, self._since, self._speed = now, time.monotonic(), speed

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        with self._lock:
            if self._now() >= self._base + self._queued:  # idle: start a new queue now
                self._base, self._queued, self._since = self._now(), 0, time.monotonic()
            self.rate = sample_rate
            self._queued += len(samples)

    def played_samples(self) -> int:
        with self._lock:
            return self._now()

    def stop(self) -> None:
        with self._lock:
            self._base, self._queued = self._now(), 0
            self.stopped_at = time.monotonic()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0)
        while self.playing:
            if timeout is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    @property
    def playing(self) -> bool:
        with self._lock:
            return self._now() < self._base + self._queued


@pytest.fixture(scope="module")
def voice(services):
    """Deterministic piper speech (16 kHz) for the phrases the tests say."""
    from speech.tts.piper import PiperTts

    tts = PiperTts(model_path=services.models.require("tts"), variation=0.0)

    def say(text: str) -> np.ndarray:
        chunks = list(tts.synthesize(text))
        return resample(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate)

    return say


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def test_simulate_json_contract_and_frames(kiosk_cli, services, voice, tmp_path: Path) -> None:
    wake_file, tap_file = tmp_path / "wake.wav", tmp_path / "tap.wav"
    write_wav(
        wake_file,
        np.concatenate([silence(0.5), voice("Hey kiosk, where is the cash machine?"), silence(0.5)]),
        SAMPLE_RATE,
    )
    write_wav(tap_file, np.concatenate([silence(0.3), voice("Do you count coins?"), silence(0.3)]), SAMPLE_RATE)
    frames = tmp_path / "frames"
    result = kiosk_cli(
        "simulate", "--wav", str(wake_file), "--wav", str(tap_file), "--json", "--cold", "--frames", str(frames),
        "--frame-size", "180x320", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["file"] == str(wake_file) and first["wake"] and not first["tap"]
    assert "cash machine" in first["transcript"]
    assert (first["mode"], first["faq_id"]) == ("faq", "bank-atm-location")
    assert first["states"][:5] == ["attract", "listening", "thinking", "speaking", "follow_up"]
    timings = first["timings_ms"]
    stages = ("asr_final_after_speech_end", "answer_ready_after_speech_end", "first_audio_after_speech_end")
    assert 0 < timings[stages[0]] <= timings[stages[1]] <= timings[stages[2]]  # how long: bench/e2e.py
    # in stream time: the 0.25 s after a confident question, else the configured 0.6 s of silence
    assert 200 <= timings["end_of_turn_after_speech_end"] <= 700
    assert second["tap"] and second["wake"] == [] and second["faq_id"] == "bank-coin-counting"
    pngs = sorted((frames / "wake").glob("frame_*.png"))
    assert len(pngs) == first["frames"] == int(first["answer_audio_s"] * 30) + 1
    assert (frames / "wake" / "answer.wav").is_file()


def test_simulate_reports_a_missing_file(kiosk_cli, tmp_path: Path) -> None:
    result = kiosk_cli("simulate", "--wav", str(tmp_path / "nope.wav"), "--cold")
    assert result.returncode != 0 and "nope.wav" in result.stderr and "Traceback" not in result.stderr


def _loop(services, sink, events, **options):
    listener = services.listener(require_wake=False)
    loop = services.turn_loop(
        sink=sink, emit=events.append, listener=listener, kb="bank", clock=time.monotonic, **options
    )
    loop.start()
    return loop


def _feed(loop, audio: np.ndarray, realtime: bool = False) -> None:
    for i, block in enumerate(to_blocks(audio)):
        if realtime:
            time.sleep(BLOCK / SAMPLE_RATE)
        loop.feed(block)
        if i % 50 == 0:
            time.sleep(0)  # let the answer worker run


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _turn_ends(loop, events, audio: np.ndarray) -> tuple[list, list[str]]:
    """Warm the loop up, tap, say ``audio``, and return the turn's SpeechEnded events and final transcripts."""
    loop.warm(openings=False)
    loop.tap()
    _feed(loop, audio)
    _wait(lambda: any(isinstance(e, Transcript) and e.final for e in events))
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    return ends, [e.text for e in events if isinstance(e, Transcript) and e.final]


def test_a_confident_question_ends_the_turn_after_a_short_silence(services, voice) -> None:
    question = np.concatenate([silence(0.3), voice("What are your opening hours on weekdays?"), silence(1.2)])
    events: list = []
    # decided at the pause on the audio thread here: fed faster than real time, a worker could lag behind the blocks
    loop = _loop(services, ClockedSink(), events, decide_inline=True)
    (end,), (text,) = _turn_ends(loop, events, question)
    assert "opening hours" in text
    assert end.confident and end.detected - end.voiced_end < 0.4
    loop.shutdown()

    # without the shortcut the turn waits for the full silence
    events = []
    loop = _loop(services, ClockedSink(), events, confident_end_score=1.0)
    (end,), _ = _turn_ends(loop, events, question)
    assert not end.confident and end.detected - end.voiced_end >= 0.55
    loop.shutdown()


def test_a_pause_in_the_middle_of_a_question_does_not_end_the_turn(services, voice) -> None:
    events: list = []
    loop = _loop(services, ClockedSink(), events)
    audio = [silence(0.3), voice("Where can I find the"), silence(0.45), voice("cash machine?"), silence(1.2)]
    ends, texts = _turn_ends(loop, events, np.concatenate(audio))
    assert len(ends) == 1 and len(texts) == 1
    assert "cash machine" in texts[0]
    _wait(lambda: loop.state in ("speaking", "follow_up"))
    assert loop.conversation.last_faq_id == "bank-atm-location"
    loop.shutdown()


def test_a_failing_confidence_check_waits_for_the_full_silence(services, voice) -> None:
    def broken(text: str) -> bool:
        raise RuntimeError("no index")

    listener = services.listener(require_wake=False)
    listener.set_mode("open")
    listener.confident_end = broken
    audio = np.concatenate([silence(0.3), voice("Do you count coins?"), silence(1.2)])
    events = [e for b in to_blocks(audio) for e in listener.feed(b)]
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    assert not end.confident and end.detected - end.voiced_end >= 0.55
    (text,) = [e.text for e in events if isinstance(e, Transcript) and e.final]
    assert "coins" in text


def test_wake_phrase_barges_in_while_the_kiosk_speaks(services, voice) -> None:
    events: list = []
    sink = ClockedSink()
    loop = _loop(services, sink, events)
    question = voice("Hey kiosk, where is the cash machine?")  # in one breath, over the kiosk's voice
    sink.set_speed(0.0)  # the answer is still playing when the visitor speaks, however slow the machine
    loop.ask("How do I open an account?")
    _wait(lambda: loop.state == "speaking")
    sink.set_speed(1.0)
    _feed(loop, np.concatenate([silence(0.5), question, silence(1.0)]), realtime=True)
    wakes = [e for e in events if isinstance(e, WakeDetected)]
    assert wakes and any(isinstance(e, PlaybackFinished) and e.interrupted for e in events)
    assert sink.stopped_at is not None  # the speaker was stopped in the same block the wake was heard
    _wait(lambda: loop.state in ("speaking", "follow_up"))
    assert any(isinstance(e, Transcript) and e.final and "cash" in e.text for e in events), events
    loop.shutdown()


def test_the_kiosk_does_not_hear_itself(services, voice) -> None:
    events: list = []
    sink = ClockedSink()
    loop = _loop(services, sink, events)
    sink.set_speed(0.0)  # all of the echo is heard while the kiosk still speaks, however slow the machine
    loop.ask("Are you open on Sundays?")
    _wait(lambda: loop.state == "speaking")
    answer = [e.audio for e in events if type(e).__name__ == "PlaybackStarted"]
    echo = np.concatenate([resample(a.samples, a.sample_rate) for a in answer]) * 0.7  # its own voice, into the mic
    _feed(loop, echo, realtime=False)
    assert loop.state == "speaking"
    sink.set_speed(1.0)
    _wait(lambda: loop.state == "follow_up", timeout=30)
    assert not any(isinstance(e, (WakeDetected, Transcript)) for e in events)
    assert not any(isinstance(e, PlaybackFinished) and e.interrupted for e in events)
    loop.shutdown()


def test_follow_up_window_closes_and_inactivity_resets(services) -> None:
    from devices.files import WavFileSink

    events: list = []
    now = [0.0]
    listener = services.listener(require_wake=False)
    loop = services.turn_loop(
        sink=WavFileSink(), emit=events.append, listener=listener, kb="bank", clock=lambda: now[0], synchronous=True
    )
    loop.start()
    loop.ask("Do you count coins?")
    assert loop.state == "follow_up" and listener.mode == "open"
    now[0] += loop.followup_window_s + 0.1
    loop.tick()
    assert loop.state == "idle" and listener.mode == "wake"
    now[0] += loop.inactivity_timeout_s
    loop.tick()
    assert loop.state == "warning"
    now[0] += 19.0
    loop.tick()
    assert loop.state == "warning"  # at least 20 s to continue
    now[0] += 1.5
    loop.tick()
    assert loop.state == "attract" and loop.conversation.last_faq_id is None
    reasons = [(e.state, e.reason) for e in events if isinstance(e, StateChanged)]
    assert reasons[-1] == ("attract", "inactivity")
