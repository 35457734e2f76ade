"""Real microphone and speaker through sounddevice (PortAudio).

Devices are chosen by (part of) their name; ``pulse:NAME`` picks a PulseAudio
source or sink by its Pulse name through the ``pulse`` ALSA device. Losing a
device never crashes the kiosk: the state turns ``unavailable``, the stream is
reopened with exponential back-off, and capture or playback resumes when the
device returns.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from core.errors import AudioError
from devices.base import BLOCK, SAMPLE_RATE, AudioSink, AudioSource, DeviceState
from devices.pulse import PulsePresence, pulse_name

_LOGGER = logging.getLogger(__name__)

StateCallback = Callable[[DeviceState], None]


def _sd():
    try:
        import sounddevice

        return sounddevice
    except OSError as exc:  # PortAudio library missing
        raise AudioError(f"PortAudio is not available: {exc}", hint="install libportaudio2") from exc


def list_devices() -> list[dict[str, object]]:
    sd = _sd()
    default_in, default_out = sd.default.device
    out = []
    for index, dev in enumerate(sd.query_devices()):
        out.append(
            {
                "index": index,
                "name": dev["name"],
                "inputs": dev["max_input_channels"],
                "outputs": dev["max_output_channels"],
                "default_rate": dev["default_samplerate"],
                "default_input": index == default_in,
                "default_output": index == default_out,
            }
        )
    return out


def resolve_device(name: str, kind: str) -> int | None:
    """PortAudio index for a device named (in part) ``name``; ``None`` = system default."""
    if not name:
        return None
    if name.startswith("pulse:"):
        os.environ["PULSE_SOURCE" if kind == "input" else "PULSE_SINK"] = name.split(":", 1)[1]
        name = "pulse"
    channels = "inputs" if kind == "input" else "outputs"
    candidates = [d for d in list_devices() if d[channels] and name.lower() in str(d["name"]).lower()]
    if not candidates:
        raise AudioError(f"no {kind} device matching {name!r}", hint="`kiosk devices` lists them")
    exact = [d for d in candidates if str(d["name"]).lower() == name.lower()]
    return int((exact or candidates)[0]["index"])


class _PortAudio:
    generation = 0  # bumps on every re-initialization: every stream opened before it is dead


def _rescan(device: str) -> None:
    """Make PortAudio see devices plugged in after start-up.

    Re-initializing PortAudio closes *every* stream of the process (the speaker's too, when the microphone
    looks for its device): the streams notice through :data:`_PortAudio.generation` and reopen. A ``pulse:`` device needs
    no rescan (PortAudio's ``pulse`` device is always there; :class:`PulsePresence` watches the real one).
    """
    if pulse_name(device) is not None:
        return
    sd = _sd()
    try:
        sd._terminate()
        sd._initialize()
    except Exception as exc:
        _LOGGER.debug("PortAudio rescan failed: %s", exc)
    _PortAudio.generation += 1


def _alive(stream, generation: int) -> bool:
    """Is the stream still running (not closed by an error, a device gone, or a PortAudio rescan)?"""
    if stream is None or generation != _PortAudio.generation:
        return False
    try:
        return bool(stream.active)
    except Exception:  # PortAudioError: Invalid stream pointer, after a re-initialization elsewhere
        return False


def _pulse_presence(
    device: str, kind: str, presence: PulsePresence | None, on_change: Callable[[bool], None]
) -> PulsePresence | None:
    """The presence watch of a ``pulse:NAME`` device (``presence``, or a new one); None for any other device."""
    name = pulse_name(device)
    if name is None:
        return None
    return presence or PulsePresence(name, kind, on_change=on_change)


def _require_present(presence: PulsePresence | None) -> None:
    """AudioError while PulseAudio lacks the watched device (a pulled USB microphone or speaker)."""
    if presence is None or presence.check():
        return
    if presence.kind == "input":
        raise AudioError(f"PulseAudio has no source {presence.name!r}", hint="plug the microphone in again")
    raise AudioError(f"PulseAudio has no sink {presence.name!r}", hint="connect the speaker again")


class _Backoff:
    def __init__(self, maximum: float) -> None:
        self.maximum = maximum
        self.delay = 0.5

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.delay)
        self.delay = min(self.maximum, self.delay * 2)

    def reset(self) -> None:
        self.delay = 0.5


class _ReportsState:
    """A device's state (ok / unavailable / closed) as the kiosk shows it; every change is logged and reported."""

    _state: DeviceState
    _on_state: StateCallback | None

    def _reports_as(self, kind: str, device: str, on_state: StateCallback | None) -> None:
        self._on_state = on_state
        self._state = DeviceState(f"{kind} {device or '(default)'}", "closed")

    def state(self) -> DeviceState:
        return self._state

    def _set_state(self, state: str, detail: str = "") -> None:
        if state != self._state.state or detail != self._state.detail:
            self._state = DeviceState(self._state.name, state, detail)
            log = _LOGGER.warning if state == "unavailable" else _LOGGER.info  # closing on purpose is no fault
            log("%s: %s %s", self._state.name, state, detail)
            if self._on_state:
                self._on_state(self._state)


class Microphone(_ReportsState, AudioSource):
    """16 kHz mono capture in :data:`BLOCK`-sample blocks, reconnecting after errors."""

    def __init__(
        self, *, device: str = "", reconnect_max_s: float = 30.0, on_state: StateCallback | None = None
    ) -> None:
        self.device = device
        self._reports_as("microphone", device, on_state)
        self._stop = threading.Event()
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=200)
        self._backoff = _Backoff(reconnect_max_s)
        self._broken = threading.Event()
        self._presence: PulsePresence | None = None  # for a pulse:NAME source: is it still there?
        self._stream_generation = -1

    def _callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            _LOGGER.debug("microphone overflow")
        with contextlib.suppress(queue.Full):  # the consumer is behind: drop rather than grow without bound
            self._queue.put_nowait(indata[:, 0].copy())

    def _open(self):
        sd = _sd()
        self._presence = _pulse_presence(self.device, "input", self._presence, self._pulse_changed)
        _require_present(self._presence)
        index = resolve_device(self.device, "input")
        stream = sd.InputStream(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="float32",
            blocksize=BLOCK,
            device=index,
            callback=self._callback,
            finished_callback=self._broken.set,
        )
        stream.start()
        self._stream_generation = _PortAudio.generation
        return stream

    def blocks(self) -> Iterator[np.ndarray]:
        while not self._stop.is_set():
            try:
                stream = self._open()
            except (AudioError, Exception) as exc:
                self._set_state("unavailable", str(exc))
                self._backoff.wait(self._stop)
                _rescan(self.device)
                continue
            self._broken.clear()
            self._set_state("ok")
            self._backoff.reset()
            try:
                while not self._stop.is_set():
                    try:
                        yield self._queue.get(timeout=1.0)
                    except queue.Empty:
                        if self._broken.is_set() or not _alive(stream, self._stream_generation):
                            self._set_state("unavailable", "the microphone stopped delivering audio")
                            break
                    if self._stream_generation != _PortAudio.generation:  # PortAudio was re-initialized: reopen at once
                        break
                    if self._broken.is_set() and self._presence is not None and not self._presence.present:
                        self._set_state("unavailable", "the microphone is gone (PulseAudio)")
                        break
            finally:
                try:
                    stream.close(ignore_errors=True)
                except Exception as exc:
                    _LOGGER.debug("closing microphone stream: %s", exc)
            if not self._stop.is_set() and self._stream_generation == _PortAudio.generation:
                self._backoff.wait(self._stop)
                _rescan(self.device)
        self._set_state("closed")

    def _pulse_changed(self, present: bool) -> None:
        if not present:
            self._broken.set()  # the stream now hears another source, or nothing: reopen on the right one

    def close(self) -> None:
        self._stop.set()
        if self._presence is not None:
            self._presence.close()


TAIL_MAX_S = 1.0  # longest wait for the device's buffered tail after the queue is handed over


class Speaker(_ReportsState, AudioSink):
    """Playback with a sample-accurate clock; :meth:`stop` silences it within one block."""

    def __init__(
        self, *, device: str = "", reconnect_max_s: float = 30.0, on_state: StateCallback | None = None
    ) -> None:
        self.device = device
        self._reports_as("speaker", device, on_state)
        self._lock = threading.Lock()
        self._pending: collections.deque[np.ndarray] = collections.deque()
        self._offset = 0  # samples of pending[0] already played
        self._played = 0
        # (DAC time, clock at the block's start, speech samples in the block) of the last callbacks: when each
        # block reaches the loudspeaker, so the clock reads the sample being heard now, not the one handed over
        self._dac_blocks: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=32)
        self._stream = None
        self._latency = 0.0
        self._rate: int | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._retry_at = 0.0
        self._backoff_s = 0.5
        self._reconnect_max_s = reconnect_max_s
        self._presence: PulsePresence | None = None  # for a pulse:NAME sink: is it still there?
        self._stale = False  # the sink went away since the stream was opened: reopen it on the next sentence
        self._stream_generation = -1

    def _callback(self, outdata, frames, time_info, status) -> None:
        out = outdata[:, 0]
        filled = 0
        with self._lock:
            start = self._played
            while filled < frames and self._pending:
                head = self._pending[0]
                take = min(frames - filled, len(head) - self._offset)
                out[filled : filled + take] = head[self._offset : self._offset + take]
                filled += take
                self._offset += take
                self._played += take
                if self._offset >= len(head):
                    self._pending.popleft()
                    self._offset = 0
            if not self._pending:
                self._idle.set()
            dac = float(time_info.outputBufferDacTime)
            if dac > 0.0 and dac >= float(time_info.currentTime):  # some host APIs report no DAC time
                self._dac_blocks.append((dac, start, filled))
        out[filled:] = 0.0

    def _ensure_stream(self, rate: int) -> bool:
        gone = self._presence is not None and not self._presence.present
        if self._rate == rate and not self._stale and _alive(self._stream, self._stream_generation) and not gone:
            return True
        if time.monotonic() < self._retry_at:
            return False
        self._close_stream()
        try:
            sd = _sd()
            self._presence = _pulse_presence(self.device, "output", self._presence, self._pulse_changed)
            _require_present(self._presence)
            index = resolve_device(self.device, "output")
            stream = sd.OutputStream(
                samplerate=rate, channels=1, dtype="float32", device=index, callback=self._callback, blocksize=512
            )
            stream.start()
        except Exception as exc:
            self._set_state("unavailable", str(exc))
            self._retry_at = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._reconnect_max_s, self._backoff_s * 2)
            _rescan(self.device)
            return False
        self._stream, self._rate, self._stream_generation = stream, rate, _PortAudio.generation
        self._stale = False
        self._latency = float(getattr(stream, "latency", 0.0) or 0.0)
        self._backoff_s = 0.5
        self._set_state("ok")
        return True

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        if not self._ensure_stream(sample_rate):
            _LOGGER.warning("speaker unavailable: %.1f s of speech not played", len(samples) / sample_rate)
            with self._lock:
                self._played += len(samples)  # keep the clock moving so captions and the mouth go on
            return
        with self._lock:
            self._pending.append(samples.astype(np.float32, copy=False))
            self._idle.clear()

    def played_samples(self) -> int:
        """The speech sample reaching the loudspeaker now (from the blocks' DAC times where PortAudio has them)."""
        return self.clock()[1]

    def clock(self) -> tuple[float | None, int]:
        """(PortAudio stream time, the speech sample at the loudspeaker then); the time is None without a stream."""
        with self._lock:
            stream, blocks, rate = self._stream, self._dac_blocks, self._rate or 1
            if stream is None:
                return None, self._played
            try:
                now = float(stream.time)
            except Exception:
                return None, self._played
            if not blocks:
                return now, self._played
            heard = blocks[0][1]
            for dac, start, filled in blocks:
                if dac > now:
                    break
                heard = start + min(filled, int((now - dac) * rate))
            return now, heard

    def written_samples(self) -> int:
        with self._lock:
            return self._played

    @property
    def output_latency(self) -> float:
        """Delay between :meth:`played_samples` and the ear: 0 with DAC times, else PortAudio's stream latency."""
        if self._stream is None or self._dac_blocks:
            return 0.0
        return self._latency

    @property
    def playing(self) -> bool:
        return not self._idle.is_set()

    def stop(self) -> None:
        with self._lock:
            self._pending.clear()
            self._offset = 0
            self._idle.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Until the queue is handed over and its last block has reached the loudspeaker; False on timeout."""
        began = time.monotonic()
        if not self._idle.wait(timeout):
            return False
        target, handed = self.written_samples(), time.monotonic()
        while self.played_samples() < target and time.monotonic() - handed < TAIL_MAX_S:
            if timeout is not None and time.monotonic() - began >= timeout:
                return False
            time.sleep(0.005)
        return True

    def _close_stream(self) -> None:
        with self._lock:
            self._dac_blocks.clear()
        if self._stream is not None:
            try:
                self._stream.close(ignore_errors=True)
            except Exception as exc:
                _LOGGER.debug("closing speaker stream: %s", exc)
            self._stream = None

    def _pulse_changed(self, present: bool) -> None:
        if not present:  # PulseAudio moved the stream elsewhere: say so now; the next sentence reopens it
            # (on its own device, even when no sentence came while it was away and the moved stream still runs)
            self._stale = True
            self._set_state("unavailable", "the speaker is gone (PulseAudio)")
            self._retry_at = 0.0

    def close(self) -> None:
        self.stop()
        self._close_stream()
        if self._presence is not None:
            self._presence.close()
        self._set_state("closed")
