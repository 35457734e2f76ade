"""``kiosk render`` / ``kiosk avatars`` end to end: MP4 with audio whose duration matches, bad inputs, the model path.

The commands run in a separate process like the real CLI (``kiosk.cli.main``
with the avatar commands added, as kiosk/cli.py registers them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, CliResult

pytestmark = [pytest.mark.models, pytest.mark.gui, pytest.mark.slow]

RUNNER = (
    "import sys; from kiosk.cli import main; from kiosk.avatar_cli import render, avatars; "
    "main.add_command(render); main.add_command(avatars); sys.exit(main())"
)


@pytest.fixture
def avatar_cli(kiosk_home: Path):
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
        full_env.setdefault("QT_QPA_PLATFORM", "offscreen" if not full_env.get("DISPLAY") else "")
        if not full_env["QT_QPA_PLATFORM"]:
            del full_env["QT_QPA_PLATFORM"]
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER, "--home", str(kiosk_home), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=REPO,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def streams(path: Path) -> dict[str, dict]:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration,width,height,pix_fmt",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(proc.stdout)["streams"]}


def test_avatars_lists_the_packs(avatar_cli) -> None:
    result = avatar_cli("avatars", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in result.json()}
    assert rows["presenter"]["ok"] and rows["mascot"]["ok"]
    plain = avatar_cli("avatars")
    assert "* presenter" in plain.stdout


def test_render_text_writes_mp4_matching_the_audio(avatar_cli, tmp_path: Path) -> None:
    out = tmp_path / "hello.mp4"
    result = avatar_cli(
        "render", "--text", "Hello, welcome to the museum.", "--out", str(out), "--size", "360x640", "--json"
    )
    assert result.returncode == 0, result.stderr
    info = result.json()
    assert info["mouth"] == "tts-timings" and info["avatar"] == "presenter"
    s = streams(out)
    assert s["video"]["codec_name"] == "h264" and s["video"]["pix_fmt"] == "yuv420p"
    assert (s["video"]["width"], s["video"]["height"]) == (360, 640)
    assert s["audio"]["codec_name"] == "aac"
    audio_s = info["audio_seconds"]
    assert abs(float(s["video"]["duration"]) - audio_s) <= 1 / 30 + 0.01
    assert abs(float(s["audio"]["duration"]) - audio_s) <= 0.05
    assert info["frames"] == pytest.approx(audio_s * 30, abs=1)


@pytest.mark.skipif(
    not (REPO / "avatar" / "weights" / "audio2mouth.pt").exists(), reason="train with python -m avatar.train"
)
def test_render_audio_uses_the_model(avatar_cli, tmp_path: Path) -> None:
    wav = tmp_path / "devices.wav"
    said = avatar_cli("say", "Good morning. The gallery opens at ten.", "--out", str(wav))
    assert said.returncode == 0, said.stderr
    out = tmp_path / "speech.mp4"
    result = avatar_cli(
        "render",
        "--audio",
        str(wav),
        "--out",
        str(out),
        "--avatar",
        "mascot",
        "--size",
        "270x480",
        "--fps",
        "25",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    info = result.json()
    assert info["mouth"] == "audio-model" and info["avatar"] == "mascot"
    s = streams(out)
    assert abs(float(s["video"]["duration"]) - info["audio_seconds"]) <= 1 / 25 + 0.01


def test_bad_inputs_give_one_clear_line(avatar_cli, tmp_path: Path) -> None:
    missing = avatar_cli("render", "--audio", str(tmp_path / "nope.wav"), "--out", str(tmp_path / "x.mp4"))
    assert missing.returncode == 2
    assert "kiosk: error [avatar-audio-invalid]" in missing.stderr and "nope.wav" in missing.stderr
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    invalid = avatar_cli("render", "--audio", str(junk), "--out", str(tmp_path / "x.mp4"))
    assert invalid.returncode == 2 and "[avatar-audio-invalid]" in invalid.stderr
    both = avatar_cli("render", "--text", "hi", "--audio", str(junk), "--out", str(tmp_path / "x.mp4"))
    assert both.returncode == 2 and "exactly one of --text or --audio" in both.stderr
    size = avatar_cli("render", "--text", "hi", "--out", str(tmp_path / "x.mp4"), "--size", "big")
    assert size.returncode == 2 and "[avatar-size-invalid]" in size.stderr
    avatar = avatar_cli("render", "--text", "hi", "--out", str(tmp_path / "x.mp4"), "--avatar", "robot")
    assert avatar.returncode == 2 and "[avatar-not-found]" in avatar.stderr
    no_ffmpeg = avatar_cli("render", "--text", "hi", "--out", str(tmp_path / "x.mp4"), env={"PATH": "/nonexistent"})
    assert no_ffmpeg.returncode == 2 and "[avatar-ffmpeg-missing]" in no_ffmpeg.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_batch_renders_several_jobs(avatar_cli, tmp_path: Path) -> None:
    batch = tmp_path / "jobs.jsonl"
    batch.write_text(
        json.dumps({"out": "a.mp4", "text": "Hi there."})
        + "\n"
        + json.dumps({"out": "b.mp4", "text": "Bye!", "avatar": "mascot"})
        + "\n"
    )
    result = avatar_cli("render", "--batch", str(batch), "--size", "180x320", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["avatar"] for r in result.json()] == ["presenter", "mascot"]
    assert (tmp_path / "a.mp4").stat().st_size > 1000 and (tmp_path / "b.mp4").stat().st_size > 1000
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"out": "c.mp4"}\n')
    failed = avatar_cli("render", "--batch", str(bad))
    assert failed.returncode == 2 and "[avatar-batch-invalid]" in failed.stderr and "bad.jsonl:1" in failed.stderr
