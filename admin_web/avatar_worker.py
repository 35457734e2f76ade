"""The child process that does an Avatars page job: ``python -m admin_web.avatar_worker JOB.json``.

Building a pack (face mesh, warp fields) and rendering a test video (piper, the
renderer, ffmpeg) take seconds to minutes of CPU and load models and Qt; the admin
app runs them here, one at a time (:mod:`admin_web.avatar_jobs`), so its own process
stays small and its event loop free. The job file says what to do; progress and the
outcome are JSON lines on stdout::

    {"event": "step", "label": "finding the face", "fraction": 0.25}
    {"event": "done", "result": {...}}
    {"event": "refused", "code": "avatar-photo-no-face", "message": "...", "hint": "..."}

A refusal (a coded :class:`~core.errors.KioskError`) exits 0; anything else exits 1
with the traceback on stderr. The process ends itself if the admin app goes away.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from admin_web import avatar_library as library
from core.errors import KioskError

_LOGGER = logging.getLogger(__name__)

PREVIEW_SIZE = (360, 640)  # a still of the portrait layout, shown at half that on the page
TEST_VIDEO_SIZE = (540, 960)
Emit = Callable[[dict], None]


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _step(label: str, fraction: float) -> None:
    emit({"event": "step", "label": label, "fraction": round(min(max(fraction, 0.0), 1.0), 3)})


def render_still(pack, out: Path, size: tuple[int, int] = PREVIEW_SIZE) -> None:
    """A neutral frame of ``pack`` (mouth closed, eyes open) as a PNG, written beside ``out`` then renamed.

    ``out``'s folder must exist: a pack deleted meanwhile is not brought back as an empty folder.
    """
    import cv2
    import numpy as np

    from avatar.render import AvatarRenderer, qimage_to_rgb_bytes
    from avatar.rig import RigParams

    renderer = AvatarRenderer(pack, *size)
    image = renderer.render(RigParams())
    bgra = np.frombuffer(qimage_to_rgb_bytes(image), np.uint8).reshape(renderer.height, renderer.width, 4)
    tmp = out.with_name(f".{out.stem}-{os.getpid()}.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(bgra[:, :, :3])):
        raise OSError(f"cannot write {tmp}")
    os.replace(tmp, out)


def build(job: dict) -> dict:
    """Build the pack in the staging folder, add its sources, record and preview, then rename it into place."""
    from avatar.pack import load_pack_file
    from avatar.photo.create import STEPS, create_pack

    home = Path(job["home"])
    name = job["name"]
    staging = Path(job["staging"])
    building = staging / "build"
    total = len(STEPS) + 3

    def progress(index: int, label: str) -> None:
        _step(label, index / total)

    def source(role: str) -> Path | None:
        return Path(job[role]) if job.get(role) else None

    try:
        result = create_pack(
            source("photo"),
            name,
            building,
            video=source("video"),
            background=source("background"),
            title=job.get("title") or None,
            progress=progress,
        )
    except KioskError as exc:  # say the operator's file name, not the staging path
        for role in ("photo", "video", "background"):
            if job.get(role):
                exc.message = exc.message.replace(job[role], repr(job.get("shown", {}).get(role, role)))
        raise
    built = building / name
    _step("keeping the source files", len(STEPS) / total)
    (staging / library.SOURCE_DIR).rename(built / library.SOURCE_DIR)
    library.write_json(built / library.ADMIN_RECORD, job["record"])
    _step("rendering the preview", (len(STEPS) + 1) / total)
    render_still(load_pack_file(built / "manifest.json"), built / library.PREVIEW)
    _step("putting the avatar in place", (len(STEPS) + 2) / total)
    target = library.install_pack(built, home, name, replace=bool(job.get("replace")))
    return {
        "name": name,
        "path": str(target),
        "seconds": result["seconds"],
        "face": result["face"],
        "video": result["video"],
    }


def render_test(job: dict) -> dict:
    """Speak ``text`` with the kiosk's configured voice and render the pack saying it into ``test.mp4``."""
    from avatar.pack import load_pack
    from avatar.video import clip_from_tts, ffmpeg_path, render_video, track_for_clip
    from core.home import KioskHome
    from core.settings import load_settings
    from runtime.services import KioskServices

    home = KioskHome(Path(job["home"]))
    out = Path(job["out"])
    text = str(job["text"])
    ffmpeg_path()  # fail before loading the voice
    pack = load_pack(job["name"], home.root)
    settings = load_settings(home.settings_file)
    services = KioskServices(settings=settings, home=home)
    _step("speaking the sentence", 0.02)
    clip = clip_from_tts(services.tts.synthesize(text))

    def load_model():
        from avatar.audio2mouth import AudioToMouth

        return AudioToMouth.load(services.models.require("avatar"))

    track = track_for_clip(clip, load_model)
    shown = [0.0]

    def progress(done: int, frames: int) -> None:
        fraction = 0.05 + 0.93 * done / frames
        if fraction - shown[0] >= 0.04 or done == frames:
            shown[0] = fraction
            _step(f"rendering frame {done} of {frames}", fraction)

    partial = out.with_name(f".{out.stem}-{os.getpid()}.mp4")
    try:
        result = render_video(
            partial, clip, track, pack, size=TEST_VIDEO_SIZE, fps=settings.avatar.fps, progress=progress
        )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    result["out"] = str(out)
    result["text"] = text
    return result


def previews(job: dict) -> dict:
    """Render the missing or stale preview of each named pack (one failure does not stop the others)."""
    from avatar.pack import available_packs, load_pack_file

    home = Path(job["home"])
    packs = available_packs(home)
    names = [n for n in job["names"] if n in packs]
    made, failed = [], {}
    for i, name in enumerate(names):
        _step(f"preview of {name}", i / max(len(names), 1))
        manifest = packs[name]
        builtin = library.is_builtin(manifest)
        media = library.media_dir(home, name, builtin=builtin)
        if builtin:
            media.mkdir(parents=True, exist_ok=True)
        try:
            render_still(load_pack_file(manifest), media / library.PREVIEW)
            made.append(name)
        except (KioskError, OSError) as exc:
            failed[name] = str(exc)
    return {"made": made, "failed": failed}


JOBS: dict[str, Callable[[dict], dict]] = {"build": build, "render": render_test, "previews": previews}


def _exit_with_parent() -> None:
    """End this process when the admin app that started it is gone (it would be re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if len(argv) != 1:
        print("usage: python -m admin_web.avatar_worker JOB.json", file=sys.stderr)
        return 2
    _exit_with_parent()
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    action = JOBS.get(job.get("kind", ""))
    if action is None:
        print(f"unknown job kind {job.get('kind')!r}", file=sys.stderr)
        return 2
    try:
        result = action(job)
    except KioskError as exc:
        emit({"event": "refused", "code": exc.code, "message": exc.message, "hint": exc.hint or ""})
        return 0
    emit({"event": "done", "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
