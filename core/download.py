"""Fetch models on a machine with internet: progress, checksum, atomic install.

Offline machines fail fast with a clear message; the kiosk then keeps using its
packaged models (pocketsphinx for ASR).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from core.errors import ModelDownloadError
from core.models import Download, DownloadFile

_LOGGER = logging.getLogger(__name__)

CHUNK = 1 << 16
CONNECT_TIMEOUT_S = 10.0

# progress(url, done_bytes, total_bytes_or_None)
Progress = Callable[[str, int, int | None], None]


def _fetch(file: DownloadFile, dest: Path, progress: Progress | None) -> None:
    host = urlparse(file.url).hostname or file.url
    request = urllib.request.Request(file.url, headers={"User-Agent": "kiosk-avatar-model-manager"})
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or file.size
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(file.url, done, total)
    except urllib.error.HTTPError as exc:
        raise ModelDownloadError(
            f"cannot download {file.url}: HTTP {exc.code} {exc.reason}",
            hint="the file moved or the server refused it; nothing was installed",
        ) from exc
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelDownloadError(
            f"cannot download {file.url}: {reason}",
            hint=f"is {host} reachable from this machine? without internet the kiosk keeps its packaged models",
        ) from exc
    if file.size is not None and done != file.size:
        raise ModelDownloadError(f"{file.url}: got {done} bytes, expected {file.size}")
    if file.sha256 is not None and digest.hexdigest() != file.sha256:
        raise ModelDownloadError(
            f"{file.url}: checksum mismatch (sha256 {digest.hexdigest()}, expected {file.sha256})",
            hint="the download was corrupted or the upstream file changed; nothing was installed",
        )


def _safe_extract(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        root = into.resolve()
        for member in zf.infolist():
            target = (into / member.filename).resolve()
            if not target.is_relative_to(root):
                raise ModelDownloadError(f"{archive.name}: unsafe path {member.filename!r} in archive")
        zf.extractall(into)


def install(download: Download, models_dir: Path, *, progress: Progress | None = None, force: bool = False) -> Path:
    """Download ``download`` into ``models_dir`` and return the installed path.

    Everything is fetched into a temporary directory beside the target and moved
    into place only when every file arrived whole and matched its checksum, so a
    failed pull never leaves a half model behind.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / download.target
    if target.exists() and not force:
        _LOGGER.info("%s already installed at %s", download.name, target)
        return target
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=models_dir) as tmp:
        staging = Path(tmp)
        if download.archive:
            (file,) = download.files
            archive = staging / Path(urlparse(file.url).path).name
            _fetch(file, archive, progress)
            unpacked = staging / "unpacked"
            try:
                _safe_extract(archive, unpacked)
            except zipfile.BadZipFile as exc:
                raise ModelDownloadError(f"{archive.name} is not a valid zip archive: {exc}") from exc
            entries = list(unpacked.iterdir())
            source = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        else:
            source = staging / "files"
            base = _common_base(download.files)
            for file in download.files:
                relative = file.url[len(base) :]
                dest = source / relative
                dest.parent.mkdir(parents=True, exist_ok=True)
                _fetch(file, dest, progress)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        source.rename(target)
    _LOGGER.info("installed %s at %s", download.name, target)
    return target


def _common_base(files: tuple[DownloadFile, ...]) -> str:
    urls = [f.url for f in files]
    if len(urls) == 1:
        return urls[0].rsplit("/", 1)[0] + "/"
    prefix = urls[0]
    for url in urls[1:]:
        while not url.startswith(prefix):
            prefix = prefix[:-1]
    return prefix[: prefix.rfind("/") + 1]
