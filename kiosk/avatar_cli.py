"""``kiosk render`` and ``kiosk avatars``: offline videos of the avatar speaking, and the avatar packs."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from core.errors import AvatarError
from kiosk.context import AppContext, pass_app


def parse_size(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{2,4})x(\d{2,4})", value.strip().lower())
    if not match:
        raise AvatarError(f"--size {value!r} is not WIDTHxHEIGHT", code="avatar-size-invalid", hint="e.g. 720x1280")
    width, height = int(match.group(1)), int(match.group(2))
    if not (64 <= width <= 4096 and 64 <= height <= 4096) or width % 2 or height % 2:
        raise AvatarError(
            f"--size {value}: sides must be even and between 64 and 4096",
            code="avatar-size-invalid",
            hint="e.g. 1080x1920",
        )
    return width, height


@dataclass(frozen=True)
class RenderJob:
    out: Path
    text: str | None = None
    audio: Path | None = None
    avatar: str | None = None


def _read_batch(path: Path) -> list[RenderJob]:
    """A JSONL file: one {"out": ..., "text": ... | "audio": ..., "avatar": ...} per line; paths relative to the file."""
    if not path.is_file():
        raise AvatarError(f"{path}: no such batch file", code="avatar-batch-invalid")
    jobs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AvatarError(f"{path}:{number}: not JSON ({exc.msg})", code="avatar-batch-invalid") from exc
        if not isinstance(item, dict) or "out" not in item or ("text" in item) == ("audio" in item):
            raise AvatarError(
                f'{path}:{number}: needs "out" and exactly one of "text" or "audio"', code="avatar-batch-invalid"
            )
        unknown = set(item) - {"out", "text", "audio", "avatar"}
        if unknown:
            raise AvatarError(f"{path}:{number}: unknown key {sorted(unknown)[0]!r}", code="avatar-batch-invalid")
        base = path.parent
        jobs.append(
            RenderJob(
                out=base / item["out"],
                text=item.get("text"),
                audio=(base / item["audio"]) if "audio" in item else None,
                avatar=item.get("avatar"),
            )
        )
    if not jobs:
        raise AvatarError(f"{path}: no jobs in the batch file", code="avatar-batch-invalid")
    return jobs


@click.command("render")
@click.option("--text", default=None, help="Speak this text with the kiosk's voice (lips from its phoneme timings).")
@click.option(
    "--audio",
    type=click.Path(path_type=Path),
    default=None,
    help="Speak this WAV file (lips from the audio-to-mouth model).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="MP4 file to write.")
@click.option("--avatar", "avatar_name", default=None, help="Avatar pack (default: avatar.name).")
@click.option("--size", default="720x1280", show_default=True, help="Video size WIDTHxHEIGHT.")
@click.option("--fps", type=click.IntRange(10, 60), default=None, help="Frames per second (default: avatar.fps).")
@click.option(
    "--batch", type=click.Path(dir_okay=False, path_type=Path), default=None, help="JSONL file of render jobs."
)
@click.option("--seed", type=int, default=0, help="Seed of the idle motion (blinks, sway).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_app
def render(
    app: AppContext,
    text: str | None,
    audio: Path | None,
    out: Path | None,
    avatar_name: str | None,
    size: str,
    fps: int | None,
    batch: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """Render a video of the avatar speaking TEXT or a recording (H.264 MP4 with the audio)."""
    from avatar.pack import load_pack
    from avatar.video import ffmpeg_path

    dims = parse_size(size)
    if batch is not None:
        if text is not None or audio is not None:
            raise AvatarError("--batch cannot be combined with --text or --audio", code="avatar-usage")
        jobs = _read_batch(batch)
    else:
        if (text is None) == (audio is None):
            raise AvatarError("give exactly one of --text or --audio", code="avatar-usage", hint="or --batch FILE")
        if out is None:
            raise AvatarError("--out FILE.mp4 is required", code="avatar-usage")
        jobs = [RenderJob(out=out, text=text, audio=audio, avatar=avatar_name)]
    ffmpeg_path()  # fail early, before synthesizing anything
    rate = fps or app.settings.avatar.fps
    results = []
    model_cache: dict[str, object] = {}
    for job in jobs:
        pack = load_pack(job.avatar or avatar_name or app.settings.avatar.name, app.home.root)
        results.append(_render_one(app, job, pack, dims, rate, seed, model_cache, show_progress=not as_json))
    if as_json:
        click.echo(json.dumps(results if batch is not None else results[0], indent=2))


def _render_one(
    app: AppContext, job: RenderJob, pack, dims, fps: int, seed: int, model_cache: dict, show_progress: bool
) -> dict:
    from avatar.video import clip_from_tts, read_audio, render_video, track_for_clip

    if job.text is not None:
        if not job.text.strip():
            raise AvatarError("nothing to say: --text is empty", code="avatar-usage")
        clip = clip_from_tts(app.services.tts.synthesize(job.text))
    else:
        clip = read_audio(job.audio)

    def load_model():
        if "model" not in model_cache:
            from avatar.audio2mouth import AudioToMouth

            model_cache["model"] = AudioToMouth.load(app.services.models.require("avatar"))
        return model_cache["model"]

    track = track_for_clip(clip, load_model)
    bar = None
    done = [0]

    def progress(current: int, total: int) -> None:
        nonlocal bar
        if not show_progress:
            return
        if bar is None:
            bar = click.progressbar(length=total, label=f"rendering {job.out.name}", file=sys.stderr)
            bar.__enter__()
        bar.update(current - done[0])
        done[0] = current

    try:
        result = render_video(job.out, clip, track, pack, size=dims, fps=fps, seed=seed, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    result["avatar"] = pack.name
    result["mouth"] = "tts-timings" if clip.phonemes else "audio-model"
    if show_progress:
        click.echo(f"wrote {job.out} ({result['audio_seconds']:.2f} s, {result['frames']} frames, avatar {pack.name})")
    return result


@click.command("avatars")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def avatars(app: AppContext, as_json: bool) -> None:
    """Avatar packs: built-in ones and the operator's own in $KIOSK_HOME/avatars."""
    from avatar.pack import available_packs, load_pack_file

    current = app.settings.avatar.name
    rows = []
    for name, manifest in available_packs(app.home.root).items():
        try:
            pack = load_pack_file(manifest)
            rows.append({"name": name, "title": pack.title, "style": pack.style, "description": pack.description,
                         "path": str(manifest.parent), "ok": True, "error": None})  # fmt: skip
        except AvatarError as exc:
            rows.append({"name": name, "title": "", "style": "", "description": "", "path": str(manifest.parent),
                         "ok": False, "error": str(exc)})  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["name"] == current else " "
        detail = row["description"] if row["ok"] else f"BROKEN: {row['error']}"
        click.echo(f"{mark} {row['name']:<12} {row['style']:<7} {detail}")


@click.group("avatar")
def avatar() -> None:
    """Make avatar packs (see also `kiosk avatars`)."""


@avatar.command("create")
@click.option("--photo", type=click.Path(path_type=Path), default=None, help="A frontal, neutral portrait.")
@click.option(
    "--video", type=click.Path(path_type=Path), default=None, help="Or a short clip: its best still and real mouths."
)
@click.option("--name", "name", required=True, help="Pack name (lower-case letters, digits, - or _).")
@click.option("--background", type=click.Path(path_type=Path), default=None, help="Image behind the person.")
@click.option("--title", default=None, help="Title shown in `kiosk avatars` (default: from the name).")
@click.option("--replace", is_flag=True, help="Replace an existing pack of that name.")
@click.option("--json", "as_json", is_flag=True, help="Print what was made as JSON.")
@pass_app
def avatar_create(
    app: AppContext,
    photo: Path | None,
    video: Path | None,
    name: str,
    background: Path | None,
    title: str | None,
    replace: bool,
    as_json: bool,
) -> None:
    """Build a photoreal avatar pack from one photo (or a short video) into $KIOSK_HOME/avatars/NAME.

    Take the photo from the front in even light: head and shoulders with space
    around the hair, eyes open, mouth closed, a neutral face. A video (5 to 20 s,
    the same framing, the mouth closed for a moment, then speaking) also gives
    the person's own teeth and tongue.
    """
    from avatar.photo.create import STEPS, create_pack

    width = 24

    def progress(index: int, label: str) -> None:
        if as_json:
            return
        done = round(width * (index + 1) / len(STEPS))
        click.echo(f"[{'#' * done}{'.' * (width - done)}] {index + 1}/{len(STEPS)} {label}", err=True)

    if (photo is None) == (video is None):
        raise AvatarError("give one of --photo FILE or --video FILE", code="avatar-usage")
    result = create_pack(
        photo,
        name,
        app.home.root / "avatars",
        video=video,
        background=background,
        title=title,
        replace=replace,
        progress=progress,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"avatar {name!r} ready in {result['seconds']:.1f} s: {result['path']}")
    click.echo(f'show it: set  [avatar] name = "{name}"  in {app.home.settings_file}')
    click.echo(f'try it:  kiosk render --text "Hello!" --avatar {name} --out {name}.mp4')
