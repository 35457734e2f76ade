"""The avatar packs as the Avatars page shows them, and the few file operations on them.

An operator's pack lives in ``$KIOSK_HOME/avatars/NAME/`` (``avatar.photo.create`` builds
it); the admin app adds, beside the pack's own files, ``admin.json`` (who uploaded it,
whose face, the consent), ``source/`` (the uploaded photo or video, and the background
image), ``preview.png`` and ``test.mp4``. Built-in packs are read-only, so their preview
and test video live in ``$KIOSK_HOME/cache/avatar-media/NAME/``. A pack appears and
disappears with one rename: :func:`install_pack` swaps a finished build into place,
:func:`delete_pack` moves the folder aside before removing it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from avatar.pack import BUILTIN_PACKS, MANIFEST, available_packs, load_pack_file
from core.errors import AvatarError

_LOGGER = logging.getLogger(__name__)

ADMIN_RECORD = "admin.json"
PHOTO_RECORD = "photo.json"
PREVIEW = "preview.png"
TEST_VIDEO = "test.mp4"
SOURCE_DIR = "source"
STAGING_DIR = ".staging"  # inside avatars/: the same file system, so a finished pack is renamed into place


def avatars_dir(home_root: Path) -> Path:
    return home_root / "avatars"


def staging_root(home_root: Path) -> Path:
    return avatars_dir(home_root) / STAGING_DIR


def is_builtin(manifest: Path) -> bool:
    return manifest.resolve().parent.parent == BUILTIN_PACKS


def media_dir(home_root: Path, name: str, *, builtin: bool) -> Path:
    """Where a pack's preview and test video are kept: beside the pack, or in the cache for a built-in one."""
    return (home_root / "cache" / "avatar-media" / name) if builtin else (avatars_dir(home_root) / name)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        _LOGGER.warning("cannot read %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` next to ``path`` and rename it into place (never a half-written record)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class PackInfo:
    """One row of the Avatars page."""

    name: str
    title: str
    kind: str  # photo, video, drawn ("" when the manifest is broken)
    builtin: bool
    created: str  # ISO time, "" for a built-in pack
    created_by: str
    consent_name: str
    on_screen: bool
    folder: Path
    media: Path
    preview_fresh: bool
    has_test_video: bool
    version: int  # changes when the preview or the test video is rewritten (cache-busting in the page)
    sources: tuple[str, ...]
    error: str = ""

    @property
    def preview(self) -> Path:
        return self.media / PREVIEW

    @property
    def test_video(self) -> Path:
        return self.media / TEST_VIDEO


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def pack_info(name: str, manifest: Path, home_root: Path, chosen: str) -> PackInfo:
    builtin = is_builtin(manifest)
    folder = manifest.parent
    media = media_dir(home_root, name, builtin=builtin)
    admin = {} if builtin else _read_json(folder / ADMIN_RECORD)
    photo = {} if builtin else _read_json(folder / PHOTO_RECORD)
    title, kind, error = "", "", ""
    try:
        pack = load_pack_file(manifest)
        title = pack.title
        kind = "drawn" if pack.style != "photo" else ("video" if photo.get("video") else "photo")
    except AvatarError as exc:
        error = exc.message.replace(str(manifest), MANIFEST)
    preview_time = _mtime(media / PREVIEW)
    test_time = _mtime(media / TEST_VIDEO)
    consent = admin.get("consent") if isinstance(admin.get("consent"), dict) else {}
    sources = admin.get("sources") if isinstance(admin.get("sources"), list) else []
    return PackInfo(
        name=name,
        title=title or name,
        kind=kind,
        builtin=builtin,
        created=str(admin.get("created_at") or photo.get("created") or ""),
        created_by=str(admin.get("created_by") or ("built in" if builtin else "command line")),
        consent_name=str(consent.get("name", "")),
        on_screen=name == chosen,
        folder=folder,
        media=media,
        preview_fresh=preview_time >= _mtime(manifest) and not error,
        has_test_video=test_time > 0,
        version=int(max(preview_time, test_time)),
        sources=tuple(str(s.get("file", "")) for s in sources if isinstance(s, dict)),
        error=error,
    )


def list_packs(home_root: Path, chosen: str) -> list[PackInfo]:
    """Every pack the kiosk can show (built-in and built), the chosen one first."""
    packs = [pack_info(name, manifest, home_root, chosen) for name, manifest in available_packs(home_root).items()]
    return sorted(packs, key=lambda p: (not p.on_screen, p.builtin, p.name))


def find_pack(home_root: Path, name: str, chosen: str = "") -> PackInfo | None:
    manifest = available_packs(home_root).get(name)
    return None if manifest is None else pack_info(name, manifest, home_root, chosen)


def install_pack(built: Path, home_root: Path, name: str, *, replace: bool) -> Path:
    """Rename the finished pack folder ``built`` to ``avatars/NAME`` (swapping out the old one when replacing)."""
    target = avatars_dir(home_root) / name
    if target.exists() and not replace:
        raise AvatarError(
            f"an avatar named {name!r} appeared while this one was being built",
            code="avatar-exists",
            hint="upload again with another name, or tick 'Replace'",
        )
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f"old-{name}-", dir=staging_root(home_root)))
        target.rename(old / name)
    built.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def delete_pack(home_root: Path, name: str) -> None:
    """Remove an operator's pack with its source files, preview and test video: gone at once, then erased."""
    target = avatars_dir(home_root) / name
    root = staging_root(home_root)
    root.mkdir(parents=True, exist_ok=True)
    trash = Path(tempfile.mkdtemp(prefix=f"deleted-{name}-", dir=root))
    target.rename(trash / name)
    shutil.rmtree(trash)


def sweep_staging(home_root: Path) -> None:
    """Remove what an interrupted build or delete left in the staging folder (called before any job runs)."""
    root = staging_root(home_root)
    if root.is_dir():
        for leftover in root.iterdir():
            _LOGGER.warning("removing a leftover of an interrupted avatar job: %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
