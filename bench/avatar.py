"""How fast and how well the avatar draws and moves its lips.

    .venv/bin/python bench/avatar.py --json [--frames N] [--sentences N]
    .venv/bin/python bench/avatar.py --render-only --repeat 5 [--packs photo]   # medians over 5 runs

Prints one JSON object: frame render time (p50/p95, fps) for the drawn packs and
a photoreal pack (built from matplotlib's public-domain portrait, with its
creation time) at 1080x1920 and 720x1280, the photo pack also at 648x1152
(caches warm, a speaking animation), the audio/mouth
offset of the playback-clock rule, the audio-to-mouth model's accuracy on
held-out sentences and voices, its lag against the truth, and its inference
time per second of audio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# "Hello, welcome to the bank." as piper aligns it: a speaking mouth for the render benchmark
SPEECH = [
    ("^", 0.0, 0.0348), ("h", 0.0348, 0.058), ("ə", 0.058, 0.1277), ("l", 0.1277, 0.1858), ("ˈ", 0.1858, 0.267),
    ("o", 0.267, 0.3367), ("ʊ", 0.3367, 0.3947), (",", 0.3947, 0.4412), (" ", 0.4412, 0.6966), ("w", 0.6966, 0.7314),
    ("ˈ", 0.7314, 0.7895), ("ɛ", 0.7895, 0.8127), ("l", 0.8127, 0.8824), ("k", 0.8824, 0.9056), ("ʌ", 0.9056, 0.9636),
    ("m", 0.9636, 1.0101), (" ", 1.0101, 1.0565), ("t", 1.0565, 1.0913), ("ə", 1.0913, 1.1262), (" ", 1.1262, 1.1842),
    ("ð", 1.1842, 1.2074), ("ə", 1.2074, 1.2771), (" ", 1.2771, 1.3119), ("b", 1.3119, 1.3468), ("ˈ", 1.3468, 1.4396),
    ("æ", 1.4396, 1.4861), ("ŋ", 1.4861, 1.5209), ("k", 1.5209, 1.6254), (".", 1.6254, 1.7067), ("$", 1.7067, 1.7531),
]  # fmt: skip


def photo_pack(home: Path) -> dict:
    """The photoreal pack, built from matplotlib's public-domain portrait into ``home``: seconds it took."""
    import matplotlib

    from avatar.photo.create import create_pack

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    start = time.perf_counter()
    create_pack(photo, "photo", home / "avatars")
    return {"photo": photo.name, "creation_s": round(time.perf_counter() - start, 2)}


def bench_render(frames: int, photo_home: Path | None = None, packs: tuple[str, ...] | None = None) -> dict:
    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer, qimage_to_rgb_bytes
    from avatar.rig import AvatarAnimator
    from avatar.visemes import VisemeTrack

    track = VisemeTrack.from_phonemes(SPEECH)
    out = {}
    names = ("presenter", "mascot", "photo") if photo_home is not None else ("presenter", "mascot")
    names = tuple(n for n in names if packs is None or n in packs)
    # 648x1152: the whole window of the README's window benchmark (the avatar gets a part of it)
    for size in ((1080, 1920), (720, 1280), (648, 1152)):
        for name in names:
            if size == (648, 1152) and name != "photo":
                continue
            pack = load_pack(name, photo_home)
            renderer = AvatarRenderer(pack, *size)
            anim = AvatarAnimator(pack, seed=0)
            anim.set_state("speaking", 0.0)
            for i in range(60):  # warm the caches (every breathing step)
                renderer.render(anim.pose(i / 6.0))
            times, readback, cpu = [], [], []
            for i in range(frames):
                t = i / 30
                start, start_cpu = time.perf_counter(), time.process_time()
                image = renderer.render(anim.pose(t, track.sample(t % 1.8)))
                mid = time.perf_counter()
                cpu.append(time.process_time() - start_cpu)
                qimage_to_rgb_bytes(image)
                times.append(mid - start)
                readback.append(time.perf_counter() - mid)
            ms = np.array(times) * 1000
            cpu_ms = np.array(cpu) * 1000  # all threads of the process: steadier than wall time on a busy machine
            out[f"{name}_{size[0]}x{size[1]}"] = {
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p95_ms": round(float(np.percentile(ms, 95)), 2),
                "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 2),
                "cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 2),
                "fps": round(1000.0 / float(ms.mean()), 1),
                "readback_p50_ms": round(float(np.percentile(np.array(readback) * 1000, 50)), 2),
            }
    return out


def bench_sync() -> dict:
    from avatar.sync import simulate_playback_offsets

    offsets = simulate_playback_offsets(120.0, block=512, jitter_s=0.008) * 1000
    return {
        "rule": "frame from samples played (audio clock), block 512 at 22050 Hz, timer jitter +-8 ms",
        "offset_p50_ms": round(float(np.percentile(offsets, 50)), 2),
        "offset_max_ms": round(float(offsets.max()), 2),
        "drift_after_120s_ms": 0.0,
    }


def measured_video_offset(fps: int = 60) -> dict:
    """Render a TTS sentence to MP4, decode it again and cross-correlate mouth opening with the audio envelope."""
    import subprocess
    import tempfile

    from avatar.pack import load_pack
    from avatar.render import AvatarRenderer
    from avatar.video import clip_from_tts, render_video, track_for_clip
    from core.home import KioskHome
    from core.settings import load_settings
    from runtime.services import KioskServices

    with tempfile.TemporaryDirectory() as tmp:
        services = KioskServices(settings=load_settings(None, env={}), home=KioskHome(Path(tmp) / "home").ensure())
        text = "Good morning! Welcome to the museum. The map, the shop and the cafe are behind you."
        clip = clip_from_tts(services.tts.synthesize(text))
        pack = load_pack("presenter")
        size = (270, 480)
        out = Path(tmp) / "sync.mp4"
        render_video(out, clip, track_for_clip(clip), pack, size=size, fps=fps)
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            capture_output=True,
            check=True,
        ).stdout
        pcm = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(out), "-ac", "1", "-ar", "24000", "-f", "f32le", "-"],
            capture_output=True,
            check=True,
        ).stdout
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, size[1], size[0]).astype(np.float32)
    rect = AvatarRenderer(pack, *size).mouth_rect()
    x, y, w, h = (round(v) for v in (rect.x(), rect.y(), rect.width(), rect.height()))
    mouth = -frames[:, y : y + h, x : x + w].mean(axis=(1, 2))  # darker: more open
    audio = np.frombuffer(pcm, dtype="<f4")
    hop = 24000 // fps
    n = min(len(mouth), len(audio) // hop)
    # audio loudness in a window centred on each frame's time
    padded = np.pad(audio, (hop // 2, hop))
    env = np.sqrt(np.mean(padded[: n * hop].reshape(n, hop) ** 2, axis=1))
    track = track_for_clip(clip)
    jaw = np.array([track.sample(i / fps).jaw for i in range(n)])
    return {
        "method": f"decoded MP4 at {fps} fps, cross-correlation peaks (parabolic interpolation)",
        "pipeline_offset_ms": _lag_ms(mouth[:n], jaw, fps),
        "mouth_vs_audio_loudness_ms": _lag_ms(mouth[:n], env, fps),
        "note": "pipeline: drawn mouth vs the intended jaw curve (render + encode + decode). loudness: a proxy; "
        "positive = mouth later; vowels are loudest after the jaw has opened",
    }


def _lag_ms(signal: np.ndarray, reference: np.ndarray, fps: int) -> float:
    """Delay of ``signal`` behind ``reference`` in ms (positive: signal later)."""
    a, b = signal - signal.mean(), reference - reference.mean()
    lags = np.arange(-8, 9)
    corr = np.array([float(np.dot(np.roll(a, -k), b)) for k in lags])
    i = int(corr.argmax())
    frac = 0.0
    if 0 < i < len(lags) - 1:
        c0, c1, c2 = corr[i - 1], corr[i], corr[i + 1]
        denom = c0 - 2 * c1 + c2
        frac = 0.5 * (c0 - c2) / denom if denom else 0.0
    return round(1000 * (lags[i] + frac) / fps, 1)


def model_lag_ms(model, factory, texts) -> float:
    """Lag of the model's jaw against the truth (cross-correlation peak, 10 ms steps; positive: model late)."""
    from avatar.audio2mouth import _postprocess
    from avatar.dataset import VoiceVariant

    lags = []
    for i, text in enumerate(texts):
        u = factory.utterance(text, VoiceVariant("voice"), seed=i)
        _, values = model.predict_features(u.feats)
        pred, truth = _postprocess(values)[:, 0], u.params[:, 0]
        pred, truth = pred - pred.mean(), truth - truth.mean()
        best = max(range(-10, 11), key=lambda k: float(np.dot(np.roll(pred, -k), truth)))
        lags.append(best * 10)
    return float(np.median(lags))


def bench_model(sentences: int) -> dict:
    from avatar.audio2mouth import AudioToMouth
    from avatar.corpus import sentences as held_out
    from avatar.dataset import UtteranceFactory
    from avatar.evaluate import EVAL_VARIANTS, evaluate
    from core.models import AVATAR_WEIGHTS

    if not AVATAR_WEIGHTS.exists():
        return {"error": "no weights; run python -m avatar.train"}
    model = AudioToMouth.load(AVATAR_WEIGHTS)
    variants = [v for v in EVAL_VARIANTS if v.name in ("voice", "fast", "higher", "noisy")]
    report = evaluate(model, n_sentences=sentences, variants=variants)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(22050 * 10)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(3):
        model.predict(audio, 22050)
    full_ms = (time.perf_counter() - start) / 3 / 10 * 1000
    return {
        "held_out_sentences": report["sentences"],
        "viseme_accuracy": report["viseme_accuracy"],
        "per_variant": {
            k: {
                m: v[m]
                for m in (
                    "viseme_accuracy",
                    "group_accuracy",
                    "majority_baseline",
                    "closure_recall",
                    "param_mae",
                    "jaw_correlation",
                )
            }
            for k, v in report["variants"].items()
        },
        "param_mae": report["param_mae"],
        "jaw_correlation": report["jaw_correlation"],
        "lag_vs_truth_ms": model_lag_ms(model, UtteranceFactory(), held_out(sentences, seed=1234, held_out=True)),
        "network_ms_per_audio_s": report["inference_ms_per_audio_s"],
        "with_features_ms_per_audio_s": round(full_ms, 2),
        "lookahead_ms": model.config.lookahead * 10 + 10,
        "weights_bytes": AVATAR_WEIGHTS.stat().st_size,
        "training": model.meta,
    }


def _medians(runs: list[dict]) -> dict:
    """Per size and pack, the median of each figure over the runs (a shared machine's load comes and goes)."""
    out: dict = {"runs": len(runs), "load_average_1min": [r["load_average_1min"] for r in runs]}
    for key, first in runs[0].items():
        if isinstance(first, dict):
            out[key] = {m: round(float(np.median([r[key][m] for r in runs])), 2) for m in first}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (the default and only format)")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--sentences", type=int, default=8)
    parser.add_argument("--render-only", action="store_true", help="only the frame render times (and the photo pack)")
    parser.add_argument("--repeat", type=int, default=1, help="run the render benchmark N times: medians, and each run")
    parser.add_argument("--packs", default=None, help="comma-separated packs to render (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        photo = photo_pack(Path(tmp))
        result = {
            "cpu_count": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "photo_pack": photo,
        }
        packs = tuple(args.packs.split(",")) if args.packs else None
        runs = []
        for _ in range(max(args.repeat, 1)):
            runs.append(
                {"load_average_1min": round(os.getloadavg()[0], 2), **bench_render(args.frames, Path(tmp), packs)}
            )
        result["render"] = runs[0] if len(runs) == 1 else _medians(runs)
        if len(runs) > 1:
            result["render_runs"] = runs
    if not args.render_only:
        result["av_sync"] = {**bench_sync(), "video": measured_video_offset()}
        result["audio_to_mouth"] = bench_model(args.sentences)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
