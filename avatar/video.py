"""Offline video export: the avatar speaking, as an H.264 MP4 with the audio track.

Frames are rendered in order and piped raw (BGRA) into ffmpeg together with
the audio as a WAV file. Frame ``i`` shows the mouth for audio time ``i / fps``
(the same rule the live kiosk applies to the playback clock), so the lips stay
locked to the sound over any length.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.pack import AvatarPack
from avatar.sync import frame_time
from avatar.visemes import VisemeTrack
from core.errors import AudioError, AvatarError

_LOGGER = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SpeechClip:
    """Audio to speak and, when it came from TTS, its phoneme timings (seconds from the clip start)."""

    samples: np.ndarray
    sample_rate: int
    phonemes: tuple = ()

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def clip_from_tts(chunks: Iterable[object]) -> SpeechClip:
    """Join TTS sentences (``core.events.TTSAudio``) into one clip, shifting their phoneme timings."""
    pieces, phonemes, offset, rate = [], [], 0.0, None
    for chunk in chunks:
        rate = rate or chunk.sample_rate
        if chunk.sample_rate != rate:
            raise AvatarError("TTS sentences with different sample rates", code="avatar-audio-invalid")
        pieces.append(np.asarray(chunk.samples, dtype=np.float32))
        phonemes.extend((p.phoneme, p.start + offset, p.end + offset) for p in chunk.phonemes)
        offset += len(chunk.samples) / chunk.sample_rate
    if not pieces:
        raise AvatarError("nothing to say: the text gave no speech", code="avatar-audio-invalid")
    return SpeechClip(np.concatenate(pieces), rate or 22050, tuple(phonemes))


def read_audio(path: Path) -> SpeechClip:
    """A WAV file (or, with ffmpeg, any audio file) as a mono clip; clear errors for missing or invalid files."""
    from devices.wav import read_wav

    if not path.exists():
        raise AvatarError(
            f"{path}: no such audio file", code="avatar-audio-invalid", hint="give a WAV file with --audio"
        )
    if path.is_dir():
        raise AvatarError(f"{path}: is a folder, not an audio file", code="avatar-audio-invalid")
    try:
        samples, rate = read_wav(path)
    except AudioError as exc:
        samples, rate = _decode_with_ffmpeg(path, exc)
    if len(samples) == 0:
        raise AvatarError(f"{path}: the audio is empty", code="avatar-audio-invalid")
    if rate < 8000:
        raise AvatarError(f"{path}: sample rate {rate} Hz is too low (8000 Hz or more)", code="avatar-audio-invalid")
    return SpeechClip(np.asarray(samples, dtype=np.float32), int(rate))


def _decode_with_ffmpeg(path: Path, cause: Exception) -> tuple[np.ndarray, int]:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AvatarError(f"{path}: not a PCM WAV file ({cause})", code="avatar-audio-invalid") from cause
    rate = 22050
    proc = subprocess.run(
        [exe, "-v", "error", "-nostdin", "-i", str(path), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
        capture_output=True,
    )
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no audio stream"]
        raise AvatarError(
            f"{path}: not an audio file ({detail[0]})", code="avatar-audio-invalid", hint="give a WAV file with --audio"
        ) from cause
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32), rate


def ffmpeg_path() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AvatarError("ffmpeg is not installed", code="avatar-ffmpeg-missing", hint="apt-get install ffmpeg")
    return exe


def track_for_clip(clip: SpeechClip, model_loader: Callable[[], object] | None = None) -> VisemeTrack:
    """From TTS timings when the clip has them, else from the audio-to-mouth model."""
    if clip.phonemes:
        return VisemeTrack.from_phonemes(clip.phonemes, duration=clip.duration)
    if model_loader is None:
        raise AvatarError("audio without phoneme timings needs the audio-to-mouth model", code="avatar-model-missing")
    model = model_loader()
    return model.track(clip.samples, clip.sample_rate)


def render_video(
    out: Path,
    clip: SpeechClip,
    track: VisemeTrack,
    pack: AvatarPack,
    *,
    size: tuple[int, int] = (720, 1280),
    fps: int = 30,
    seed: int = 0,
    progress: Progress | None = None,
    crf: int = 20,
) -> dict:
    """Write ``out`` (MP4: H.264 yuv420p + AAC). Returns frame count, duration and timing figures."""
    import time

    from avatar.render import AvatarRenderer, qimage_to_rgb_bytes
    from avatar.rig import AvatarAnimator
    from devices.wav import write_wav

    width, height = size
    if width % 2 or height % 2:
        raise AvatarError(
            f"video size {width}x{height} must have even sides (H.264 yuv420p)", code="avatar-size-invalid"
        )
    exe = ffmpeg_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    n_frames = max(1, math.ceil(clip.duration * fps))
    renderer = AvatarRenderer(pack, width, height)
    animator = AvatarAnimator(pack, seed=seed)
    animator.set_state("speaking", 0.0)
    render_s = 0.0
    with tempfile.TemporaryDirectory(prefix="kiosk-render-") as tmp:
        wav = Path(tmp) / "audio.wav"
        write_wav(wav, clip.samples, clip.sample_rate)
        cmd = [
            exe, "-v", "error", "-y", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "bgra", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
            "-i", str(wav),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for i in range(n_frames):
                t = frame_time(i, fps)
                start = time.perf_counter()
                image = renderer.render(animator.pose(t, track.sample(t)))
                data = qimage_to_rgb_bytes(image)
                render_s += time.perf_counter() - start
                proc.stdin.write(data)
                if progress is not None:
                    progress(i + 1, n_frames)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        finally:
            err = proc.stderr.read().decode(errors="replace")
            code = proc.wait()
        if code != 0:
            tail = " | ".join(err.strip().splitlines()[-3:])
            raise AvatarError(
                f"ffmpeg failed writing {out}: {tail or f'exit status {code}'}", code="avatar-video-failed"
            )
    _LOGGER.info(
        "rendered %s: %d frames at %dx%d, %.1f ms per frame", out, n_frames, width, height, 1000 * render_s / n_frames
    )
    return {
        "out": str(out),
        "frames": n_frames,
        "fps": fps,
        "audio_seconds": round(clip.duration, 3),
        "render_ms_per_frame": round(1000 * render_s / n_frames, 2),
    }


def probe_duration(path: Path) -> dict[str, float]:
    """Durations (seconds) of the video and audio streams of a file, by ffprobe."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise AvatarError("ffprobe is not installed", code="avatar-ffmpeg-missing", hint="apt-get install ffmpeg")
    proc = subprocess.run(
        [exe, "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, float] = {}
    for line in proc.stdout.strip().splitlines():
        kind, _, value = line.partition(",")
        if value and value != "N/A":
            out[kind] = float(value)
    return out
