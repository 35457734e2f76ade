"""Real audio through PulseAudio: null sinks as speaker and microphone (./test.sh starts the daemon)."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from devices.base import SAMPLE_RATE
from devices.wav import read_wav, write_wav
from speech.events import Transcript
from tests.fakes import wait_until

pytestmark = [pytest.mark.audio, pytest.mark.models]


def pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def pulse() -> None:
    try:
        pactl("info")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no PulseAudio server (./test.sh starts one)")


@pytest.fixture
def null_sink(pulse) -> Iterator[str]:
    name = f"kiosk_test_{uuid.uuid4().hex[:6]}"
    module = pactl("load-module", "module-null-sink", f"sink_name={name}")
    try:
        yield name
    finally:
        subprocess.run(["pactl", "unload-module", module], check=False)


@pytest.fixture(scope="module")
def question_wav(services, tmp_path_factory) -> Path:
    from speech.tts.piper import PiperTts

    path = tmp_path_factory.mktemp("audio") / "question.wav"
    tts = PiperTts(model_path=services.models.require("tts"), variation=0.0)  # the same audio on every run
    chunks = list(tts.synthesize("Hey kiosk, where is the cash machine?"))
    samples = np.concatenate([np.zeros(11025, np.float32), *[c.samples for c in chunks], np.zeros(22050, np.float32)])
    write_wav(path, samples, chunks[0].sample_rate)
    return path


def test_live_pipeline_transcribes_speech_played_into_the_microphone(services, null_sink, question_wav) -> None:
    from devices.sound import Microphone

    mic = Microphone(device=f"pulse:{null_sink}.monitor")
    listener = services.listener(require_wake=True)
    events: list = []
    worker = threading.Thread(target=lambda: events.extend(listener.run(mic.blocks())), daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while mic.state().state != "ok" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mic.state().state == "ok", mic.state()
    subprocess.run(["paplay", f"--device={null_sink}", str(question_wav)], check=True)
    deadline = time.monotonic() + 20
    while not any(isinstance(e, Transcript) and e.final for e in events) and time.monotonic() < deadline:
        time.sleep(0.2)
    mic.close()
    worker.join(5)
    transcripts = [e.text for e in events if isinstance(e, Transcript) and e.final]
    assert transcripts and "cash machine" in transcripts[0], events


def test_speaker_plays_with_a_sample_clock_and_stops_at_once(services, null_sink, tmp_path: Path) -> None:
    from devices.sound import Speaker

    recording = tmp_path / "heard.wav"
    recorder = subprocess.Popen(
        [
            "parecord",
            f"--device={null_sink}.monitor",
            "--channels=1",
            "--rate=16000",
            "--file-format=wav",
            str(recording),
        ]
    )
    time.sleep(0.5)
    speaker = Speaker(device=f"pulse:{null_sink}")
    audio = next(iter(services.tts.synthesize("Our branch is open from nine to five on weekdays.")))
    speaker.play(audio.samples, audio.sample_rate)
    assert speaker.wait(timeout=15)
    # every sample reaches the loudspeaker (wait() covers the device's tail, for a second at most on a busy machine)
    assert wait_until(lambda: speaker.played_samples() == speaker.written_samples() == len(audio.samples), 10)
    assert speaker.output_latency == 0.0  # the clock reads the sample at the loudspeaker (PortAudio's DAC times)
    # barge-in: a long answer is cut within 300 ms
    long_answer = np.tile(audio.samples, 4)
    before = speaker.played_samples()
    speaker.play(long_answer, audio.sample_rate)

    def buffered_s() -> float:  # handed to the device but not heard yet
        return (speaker.written_samples() - speaker.played_samples()) / audio.sample_rate

    assert wait_until(lambda: speaker.played_samples() > before and 0.0 < buffered_s() < 0.5, 10), buffered_s()
    speaker.stop()
    assert not speaker.playing
    assert speaker.played_samples() - before < len(long_answer)
    time.sleep(0.5)
    speaker.close()
    recorder.terminate()
    recorder.wait(5)
    heard, rate = read_wav(recording)
    assert rate == 16000
    assert float(np.sqrt(np.mean(heard**2))) > 0.01  # the voice reached the sink


def test_microphone_waits_for_a_missing_device_and_resumes(pulse) -> None:
    from devices.sound import Microphone

    name = f"kiosk_late_{uuid.uuid4().hex[:6]}"
    states: list[str] = []
    mic = Microphone(device=f"pulse:{name}.monitor", reconnect_max_s=1.0, on_state=lambda s: states.append(s.state))
    blocks: list[np.ndarray] = []

    def capture() -> None:
        for block in mic.blocks():
            blocks.append(block)

    worker = threading.Thread(target=capture, daemon=True)
    worker.start()
    assert wait_until(lambda: bool(states), 15)
    assert states[0] == "unavailable"  # "unplugged": reported, no crash
    assert blocks == []
    module = pactl("load-module", "module-null-sink", f"sink_name={name}")  # plugged in
    try:
        deadline = time.monotonic() + 10
        while len(blocks) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "ok" in states and len(blocks) >= 5
        assert all(len(b) == 512 for b in blocks[:5])
    finally:
        mic.close()
        worker.join(5)
        subprocess.run(["pactl", "unload-module", module], check=False)
    assert states[-1] == "closed"
    assert SAMPLE_RATE == 16000


def test_a_pulled_microphone_and_speaker_are_reported_and_come_back_on_their_own_device(pulse) -> None:
    """PulseAudio moves a vanished device's streams elsewhere without an error; the kiosk notices and rebinds."""
    from devices.sound import Microphone, Speaker

    mic_name, spk_name = (f"kiosk_pull_{role}_{uuid.uuid4().hex[:6]}" for role in ("mic", "spk"))
    modules = {name: pactl("load-module", "module-null-sink", f"sink_name={name}") for name in (mic_name, spk_name)}
    mic_states: list[str] = []
    spk_states: list[str] = []
    mic = Microphone(
        device=f"pulse:{mic_name}.monitor", reconnect_max_s=1.0, on_state=lambda s: mic_states.append(s.state)
    )
    speaker = Speaker(device=f"pulse:{spk_name}", reconnect_max_s=1.0, on_state=lambda s: spk_states.append(s.state))
    blocks: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: [blocks.append(b) for b in mic.blocks()], daemon=True)
    worker.start()
    tone = (0.2 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440)).astype(np.float32)
    try:
        speaker.play(tone, 16000)
        assert wait_until(lambda: mic_states[-1:] == ["ok"] and spk_states[-1:] == ["ok"])
        for name in (mic_name, spk_name):  # both pulled out
            pactl("unload-module", modules.pop(name))
        assert wait_until(lambda: mic_states[-1] == "unavailable" and spk_states[-1] == "unavailable")
        for name in (mic_name, spk_name):  # and plugged in again
            modules[name] = pactl("load-module", "module-null-sink", f"sink_name={name}")
        assert wait_until(lambda: mic_states[-1] == "ok")
        speaker.play(tone, 16000)  # the next sentence opens the speaker again
        assert spk_states[-1] == "ok"
        count = len(blocks)
        assert wait_until(lambda: len(blocks) > count + 10)  # capturing again
        sources = dict(line.split("\t")[:2] for line in pactl("list", "short", "sources").splitlines())
        bound = {sources.get(line.split("\t")[1]) for line in pactl("list", "short", "source-outputs").splitlines()}
        assert f"{mic_name}.monitor" in bound  # on its own device again, not where PulseAudio had moved it
    finally:
        speaker.close()
        mic.close()
        worker.join(5)
        for module in modules.values():
            subprocess.run(["pactl", "unload-module", module], check=False)


def test_pulse_presence_reports_changes_once() -> None:
    from devices.pulse import PulsePresence

    names = [{"mic"}, {"mic"}, set(), set(), {"mic"}]
    seen: list[bool] = []
    changed = threading.Event()

    def lister(kind: str) -> set[str]:
        return names.pop(0) if len(names) > 1 else names[0]

    def on_change(present: bool) -> None:
        seen.append(present)
        if len(seen) == 2:
            changed.set()

    presence = PulsePresence("mic", "input", on_change=on_change, every_s=0.01, lister=lister)
    assert changed.wait(20)
    presence.close()
    assert seen == [False, True] and presence.present
    assert PulsePresence("x", "input", lister=lambda kind: None).present  # no server to ask: trust the device


def test_the_speaker_survives_the_microphone_rescanning_portaudio(null_sink) -> None:
    """A microphone looking for its USB device re-initializes PortAudio, which closes every stream: the speaker
    reopens on its next sentence instead of failing every answer with 'Invalid stream pointer'."""
    from devices import sound

    speaker = sound.Speaker(device=f"pulse:{null_sink}")
    tone = np.zeros(1600, dtype=np.float32)
    try:
        speaker.play(tone, 16000)
        assert speaker.wait(timeout=15)
        sound._rescan("USB microphone")  # what Microphone.blocks() does while its device is missing
        speaker.play(tone, 16000)
        assert speaker.wait(timeout=15)
        assert speaker.state().state == "ok" and speaker.played_samples() == 3200
    finally:
        speaker.close()
