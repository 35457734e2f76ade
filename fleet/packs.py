"""Avatar packs as published archives: a gzip'd tar of the pack folder, checked before anything is written.

The server stores the archive as it was made from the operator's folder (``kiosk fleet publish-avatar``);
a kiosk downloads it, checks its size and SHA-256, checks every member (regular files and folders only,
relative paths without ``..``, sizes within the limits), unpacks it into a temporary folder beside the
packs, loads its manifest, and only then swaps it in as ``$KIOSK_HOME/avatars/NAME``. A tampered,
broken or hostile archive changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from avatar.pack import MANIFEST, load_pack_file
from core.errors import AvatarError
from fleet.errors import DownloadInvalidError, FleetInputError

_LOGGER = logging.getLogger(__name__)

MAX_ARCHIVE_BYTES = 64 << 20  # what is stored and downloaded
MAX_UNPACKED_BYTES = 256 << 20  # a small archive must not unpack into a full disk
MAX_MEMBERS = 2000
PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # as avatar.pack requires of a manifest's name
_MEMBER_PART = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def check_pack_name(name: str) -> str:
    if not PACK_NAME.fullmatch(name):
        raise FleetInputError(
            f"avatar pack name {name!r} is not valid",
            code="fleet-avatar-invalid",
            hint="lower-case letters, digits, '-' or '_', at most 40, as in the pack's manifest.json",
        )
    return name


def archive_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_archive(name: str, pack_dir: Path) -> bytes:
    """The archive of ``pack_dir`` (its manifest checked and naming ``name``); refuses links and oversized packs."""
    check_pack_name(name)
    if not (pack_dir / MANIFEST).is_file():
        raise FleetInputError(
            f"{pack_dir} holds no {MANIFEST}", code="fleet-avatar-invalid", hint="give the folder of an avatar pack"
        )
    try:
        pack = load_pack_file(pack_dir / MANIFEST)
    except AvatarError as exc:
        raise FleetInputError(
            exc.message, code="fleet-avatar-invalid", hint=exc.hint or "nothing was published"
        ) from exc
    if pack.name != name:
        raise FleetInputError(
            f"the manifest in {pack_dir} names the pack {pack.name!r}, not {name!r}",
            code="fleet-avatar-invalid",
            hint=f'publish it as {pack.name!r}, or change "name" in its manifest.json',
        )
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(pack_dir.rglob("*")):
            relative = path.relative_to(pack_dir).as_posix()
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                raise FleetInputError(
                    f"{path}: only plain files and folders can be published",
                    code="fleet-avatar-invalid",
                    hint="replace links by the files themselves",
                )
            _check_member_name(relative, FleetInputError)
            total += path.stat().st_size if path.is_file() else 0
            if total > MAX_UNPACKED_BYTES:
                raise FleetInputError(
                    f"{pack_dir}: larger than {MAX_UNPACKED_BYTES >> 20} MiB", code="fleet-avatar-too-large"
                )
            tar.add(path, arcname=relative, recursive=False)
    data = buffer.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise FleetInputError(
            f"{pack_dir}: the archive is {len(data) >> 20} MiB; at most {MAX_ARCHIVE_BYTES >> 20} MiB",
            code="fleet-avatar-too-large",
            hint="smaller images (a photo pack's canvases) make a smaller pack",
        )
    return data


def _check_member_name(name: str, error: type[FleetInputError] | type[DownloadInvalidError]) -> None:
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or not path.parts
        or any(p in ("..", ".") or not _MEMBER_PART.fullmatch(p) for p in path.parts)
    ):
        raise error(
            f"avatar pack member {name!r} is not a plain relative name",
            code="fleet-avatar-invalid" if error is FleetInputError else "fleet-download-invalid",
        )


def check_archive(data: bytes, *, expected_sha256: str) -> list[tarfile.TarInfo]:
    """The archive's members, once its size, digest and every member are found acceptable."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise DownloadInvalidError(f"the avatar archive is {len(data)} bytes; at most {MAX_ARCHIVE_BYTES}")
    if archive_digest(data) != expected_sha256:
        raise DownloadInvalidError(
            "the avatar archive does not match its digest", hint="nothing was changed; the next sync downloads it again"
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadInvalidError(f"the avatar archive cannot be read: {exc}") from exc
    if len(members) > MAX_MEMBERS:
        raise DownloadInvalidError(f"the avatar archive holds {len(members)} members; at most {MAX_MEMBERS}")
    total = 0
    for member in members:
        if not (member.isfile() or member.isdir()):
            raise DownloadInvalidError(f"avatar pack member {member.name!r} is a link or device, not a plain file")
        if member.isdir() and member.name in (".", "./"):
            continue  # `tar -C PACK .` starts with the folder itself
        _check_member_name(member.name, DownloadInvalidError)
        total += member.size
    if total > MAX_UNPACKED_BYTES:
        raise DownloadInvalidError(f"the avatar archive unpacks to {total} bytes; at most {MAX_UNPACKED_BYTES}")
    if MANIFEST not in {PurePosixPath(m.name).as_posix() for m in members if m.isfile()}:
        raise DownloadInvalidError(f"the avatar archive holds no {MANIFEST}")
    return members


def _unpack(data: bytes, *, name: str, expected_sha256: str, parent: Path) -> Path:
    """Unpack a checked archive into a new temporary folder under ``parent`` and load its manifest; the folder."""
    check_pack_name(name)
    members = check_archive(data, expected_sha256=expected_sha256)
    staging = Path(tempfile.mkdtemp(prefix=f".incoming-{name}-", dir=parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(staging, members=members, filter="data")
        pack = load_pack_file(staging / MANIFEST)
        if pack.name != name:
            raise DownloadInvalidError(f"the avatar archive for {name!r} holds the pack {pack.name!r}")
    except AvatarError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadInvalidError(f"the avatar pack {name!r} does not load: {exc.message}") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadInvalidError(f"the avatar archive for {name!r} cannot be unpacked: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def verify_archive(data: bytes, *, name: str, expected_sha256: str) -> None:
    """Everything :func:`install_archive` checks, in a scratch folder (the server, before it stores a pack)."""
    with tempfile.TemporaryDirectory(prefix="kiosk-avatar-check-") as scratch:
        _unpack(data, name=name, expected_sha256=expected_sha256, parent=Path(scratch))


def install_archive(data: bytes, *, name: str, expected_sha256: str, avatars_dir: Path) -> Path:
    """Unpack a checked archive as ``avatars_dir/NAME``, replacing what was there only once it loads."""
    avatars_dir.mkdir(parents=True, exist_ok=True)
    recover(avatars_dir)
    staging = _unpack(data, name=name, expected_sha256=expected_sha256, parent=avatars_dir)
    os.chmod(staging, 0o755)
    target = avatars_dir / name
    previous = avatars_dir / f".previous-{name}"
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.rename(target, previous)
    os.rename(staging, target)  # a crash between the two renames is repaired by recover() on the next apply
    shutil.rmtree(previous, ignore_errors=True)
    _LOGGER.info("avatar pack %s installed in %s", name, target)
    return target


def archive_from_upload(data: bytes, filename: str, name: str = "") -> tuple[str, bytes]:
    """An uploaded .tar.gz of a pack folder (as ``kiosk avatar create`` made it, archived at its root or with the
    folder itself on top) as ``(name, archive)``: every member checked as a kiosk checks a download, unpacked in a
    scratch folder, then archived again by :func:`make_archive` exactly as ``kiosk fleet publish-avatar`` does.
    ``name`` empty: the manifest's. Anything wrong raises :class:`FleetInputError`; nothing is kept."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise FleetInputError(
            f"{filename}: {len(data) >> 20} MiB; a pack archive may hold at most {MAX_ARCHIVE_BYTES >> 20} MiB",
            code="fleet-avatar-too-large",
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FleetInputError(
            f"{filename} is not a .tar.gz archive ({exc})",
            code="fleet-avatar-invalid",
            hint="archive the pack folder: tar -czf NAME.tar.gz -C $KIOSK_HOME/avatars/NAME .",
        ) from exc
    if len(members) > MAX_MEMBERS:
        raise FleetInputError(
            f"{filename} holds {len(members)} members; at most {MAX_MEMBERS}", code="fleet-avatar-invalid"
        )
    kept, total = [], 0
    for member in members:
        if not (member.isfile() or member.isdir()):
            raise FleetInputError(
                f"{filename}: member {member.name!r} is a link or device, not a plain file",
                code="fleet-avatar-invalid",
                hint="only plain files and folders can be published; nothing was stored",
            )
        if member.isdir() and member.name in (".", "./"):
            continue
        _check_member_name(member.name, FleetInputError)
        total += member.size
        kept.append(member)
    if total > MAX_UNPACKED_BYTES:
        raise FleetInputError(
            f"{filename} unpacks to more than {MAX_UNPACKED_BYTES >> 20} MiB", code="fleet-avatar-too-large"
        )
    files = {PurePosixPath(m.name).as_posix() for m in kept if m.isfile()}
    tops = {PurePosixPath(m.name).parts[0] for m in kept}
    if MANIFEST in files:
        root = ""
    elif len(tops) == 1 and f"{next(iter(tops))}/{MANIFEST}" in files:
        root = next(iter(tops))
    else:
        raise FleetInputError(
            f"{filename} holds no {MANIFEST} at its top or in one folder", code="fleet-avatar-invalid",
            hint="archive the folder of an avatar pack (the one holding manifest.json)",
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kiosk-avatar-upload-") as scratch:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(scratch, members=kept, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FleetInputError(f"{filename} cannot be unpacked: {exc}", code="fleet-avatar-invalid") from exc
        folder = Path(scratch) / root
        try:
            if not name:
                try:
                    name = load_pack_file(folder / MANIFEST).name
                except AvatarError as exc:
                    raise FleetInputError(exc.message, code="fleet-avatar-invalid", hint=exc.hint or "") from exc
            return name, make_archive(name, folder)
        except FleetInputError as exc:  # name the upload, not the scratch folder
            message = exc.message.replace(str(folder), filename).replace(scratch, filename)
            raise FleetInputError(message, code=exc.code, hint=exc.hint) from exc


def recover(avatars_dir: Path) -> None:
    """Undo what an interrupted install left: a pack moved aside but not replaced is put back; leftovers go."""
    if not avatars_dir.is_dir():
        return
    for leftover in avatars_dir.glob(".previous-*"):
        target = avatars_dir / leftover.name.removeprefix(".previous-")
        if target.exists():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            os.rename(leftover, target)
            _LOGGER.warning("avatar pack %s restored after an interrupted update", target.name)
    for leftover in avatars_dir.glob(".incoming-*"):
        shutil.rmtree(leftover, ignore_errors=True)
