"""An avatar upload checked before anything is kept: the pack name, the consent, each file's size and real type.

The Avatars page takes a photo (or instead a short video), an optional background
image, a pack name and a consent statement (whose face, and that this person
agreed). :func:`stage_upload` checks them in that order and copies the files into
a staging folder that the build job then owns; on the first problem it removes
that folder and raises :class:`AvatarUploadError` (a coded error with a hint), so
a refused upload stores nothing. File types are sniffed from their first bytes,
never from the name; images are also decoded once (dimensions read from the
header first, so a decompression bomb is refused before it is decoded).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from avatar.pack import BUILTIN_PACKS
from core.errors import AvatarError, KioskError

_LOGGER = logging.getLogger(__name__)

PACK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_PHOTO_BYTES = 25 << 20
MAX_BACKGROUND_BYTES = 10 << 20
MAX_VIDEO_BYTES = 150 << 20  # the three together stay under security.AVATAR_UPLOAD_BODY_LIMIT
MAX_TITLE = 60
MAX_CONSENT_NAME = 100
IMAGE_TYPES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}
VIDEO_TYPES = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
CONSENT_STATEMENT = (
    "{who} agreed to have their face shown on this kiosk as its presenter, "
    "and to the photo or video being kept with the avatar until it is deleted."
)
PHOTO_ADVICE = "upload a JPEG or PNG photo (WebP also works)"
VIDEO_ADVICE = "upload an MP4 (H.264) video of 5 to 20 s; a MOV or WebM also works"


class AvatarUploadError(KioskError):
    """An upload refused before anything was kept; ``code`` says why, ``hint`` what to do instead."""

    subsystem = "admin"
    code = "admin-avatar-upload-invalid"


@dataclass(frozen=True)
class UploadedFile:
    """One file of the form as received: its role (photo, video, background), its name and its bytes' stream."""

    role: str
    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class StoredFile:
    """A file copied into the staging folder, as the pack's record keeps it."""

    role: str
    path: Path
    kind: str
    original_name: str
    size: int
    sha256: str

    def record(self) -> dict:
        return {
            "role": self.role,
            "file": f"source/{self.path.name}",
            "type": self.kind,
            "original_name": self.original_name,
            "bytes": self.size,
            "sha256": self.sha256,
        }


@dataclass
class StagedUpload:
    """A checked upload in its staging folder: what the build job needs."""

    name: str
    title: str
    consent_name: str
    replace: bool
    folder: Path
    files: dict[str, StoredFile] = field(default_factory=dict)


def refuse(code: str, message: str, hint: str) -> AvatarUploadError:
    return AvatarUploadError(message, code=f"admin-avatar-{code}", hint=hint)


def check_name(name: str, avatars_dir: Path, *, replace: bool) -> str:
    """The pack name if it is a safe slug, not a built-in pack and not taken (unless replacing)."""
    name = name.strip()
    if not PACK_NAME.fullmatch(name):
        raise refuse(
            "name-invalid",
            f"the name {name[:60]!r} cannot be used",
            "use 1 to 40 lower-case letters, digits, '-' or '_', starting with a letter or digit (e.g. anna)",
        )
    if (BUILTIN_PACKS / name).is_dir():
        raise refuse("name-builtin", f"{name!r} is a built-in avatar", "choose another name")
    if (avatars_dir / name).exists() and not replace:
        raise refuse(
            "name-taken",
            f"an avatar named {name!r} exists already",
            "choose another name, or tick 'Replace the avatar of that name'",
        )
    return name


def check_consent(consent_name: str, given: bool) -> str:
    """Whose face it is (a name without control characters); refused unless the statement was ticked."""
    who = " ".join(consent_name.split())
    if not given:
        raise refuse(
            "consent-missing",
            "the consent statement was not ticked: nothing was uploaded",
            "upload a face only when that person agreed to be shown on this kiosk, then tick the statement",
        )
    if len(who) < 2 or len(who) > MAX_CONSENT_NAME or any(unicodedata.category(c).startswith("C") for c in who):
        raise refuse(
            "consent-name-invalid",
            "say whose face this is",
            f"give the person's name (2 to {MAX_CONSENT_NAME} characters) in 'Whose face'",
        )
    return who


def clean_title(title: str, name: str) -> str:
    text = " ".join(title.split())[:MAX_TITLE]
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise refuse("title-invalid", "the title holds control characters", "type a plain title")
    return text or name.replace("-", " ").replace("_", " ").title()


def sniff(head: bytes) -> str | None:
    """The file type its first bytes show (jpeg, png, webp, mp4, mov, webm), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in HEIF_BRANDS:
            return "heif"
        return "mov" if brand == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _copy_capped(upload: UploadedFile, target: Path, limit: int) -> tuple[int, str]:
    """Copy the stream to ``target`` in blocks, at most ``limit`` bytes; (size, sha256) or refused as too large."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while block := upload.stream.read(1 << 20):
            size += len(block)
            if size > limit:
                raise refuse(
                    "file-too-large",
                    f"the {upload.role} {upload.filename!r} is larger than {limit >> 20} MB",
                    PHOTO_ADVICE + " of a few megapixels" if upload.role != "video" else VIDEO_ADVICE,
                )
            digest.update(block)
            out.write(block)
    if size == 0:
        raise refuse("file-empty", f"the {upload.role} {upload.filename!r} is empty", "choose the file again")
    return size, digest.hexdigest()


def _store(upload: UploadedFile, source: Path) -> StoredFile:
    video = upload.role == "video"
    limit = MAX_VIDEO_BYTES if video else MAX_BACKGROUND_BYTES if upload.role == "background" else MAX_PHOTO_BYTES
    partial = source / f".{upload.role}.part"
    size, digest = _copy_capped(upload, partial, limit)
    with partial.open("rb") as handle:
        kind = sniff(handle.read(32))
    allowed = VIDEO_TYPES if video else IMAGE_TYPES
    if kind not in allowed:
        raise refuse(
            "file-unsupported",
            f"the {upload.role} {upload.filename!r} is {_described(kind)}",
            VIDEO_ADVICE if video else PHOTO_ADVICE + " (HEIC, GIF, RAW and PDF are not read)",
        )
    path = source / f"{upload.role}{allowed[kind]}"
    partial.rename(path)
    stored = StoredFile(upload.role, path, kind, _safe_filename(upload.filename), size, digest)
    if not video:
        _check_image(stored)
    return stored


def _described(kind: str | None) -> str:
    """What a refused file is, in the words of the refusal."""
    if kind in VIDEO_TYPES:
        return "a video: put it in the video field"
    if kind in IMAGE_TYPES:
        return "an image: put it in the photo field"
    return {"heif": "a HEIC/HEIF image", "gif": "a GIF image"}.get(kind or "", "not a file type that can be read")


def _check_image(stored: StoredFile) -> None:
    """Decode the image once, as the pack builder will (header dimensions first: no decompression bomb)."""
    from avatar.photo import checks

    try:
        image = checks.read_photo(stored.path, stored.role)
        if stored.role == "photo":
            checks.check_image(image)
    except AvatarError as exc:
        message = exc.message.replace(str(stored.path), repr(stored.original_name))
        raise AvatarUploadError(message, code=exc.code, hint=exc.hint) from exc


def _safe_filename(filename: str) -> str:
    base = Path(filename.replace("\\", "/")).name
    text = "".join(c for c in base if not unicodedata.category(c).startswith("C"))
    return text[:120] or "upload"


def stage_upload(
    staging: Path,
    avatars_dir: Path,
    *,
    name: str,
    title: str,
    consent_name: str,
    consent: bool,
    replace: bool,
    photo: UploadedFile | None,
    video: UploadedFile | None,
    background: UploadedFile | None,
) -> StagedUpload:
    """Check everything and copy the files into ``staging/source``; on any refusal ``staging`` is removed."""
    try:
        name = check_name(name, avatars_dir, replace=replace)
        who = check_consent(consent_name, consent)
        title = clean_title(title, name)
        if photo is None and video is None:
            raise refuse("file-missing", "no photo or video was chosen", PHOTO_ADVICE)
        if photo is not None and video is not None:
            raise refuse(
                "file-both",
                "give a photo or a video, not both",
                "a video gives its own best still; leave the photo field empty",
            )
        staged = StagedUpload(name=name, title=title, consent_name=who, replace=replace, folder=staging)
        source = staging / "source"
        source.mkdir(parents=True)
        for upload in (photo, video, background):
            if upload is not None:
                staged.files[upload.role] = _store(upload, source)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _LOGGER.info("avatar upload %r staged in %s: %s", name, staging, ", ".join(staged.files))
    return staged
