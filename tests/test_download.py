"""The real download code, exercised against a server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.download import install
from core.errors import ModelDownloadError
from core.models import Download, DownloadFile


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):  # keep test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        thread.join()


def test_archive_is_verified_and_installed(server, tmp_path: Path) -> None:
    base, root = server
    data = make_zip({"vosk-model-x/am/final.mdl": b"model", "vosk-model-x/conf/model.conf": b"conf"})
    (root / "m.zip").write_bytes(data)
    seen: list[int] = []
    download = Download(
        "x",
        "asr-vosk",
        "vosk-model-x",
        (DownloadFile(f"{base}/m.zip", hashlib.sha256(data).hexdigest(), len(data)),),
        archive=True,
    )
    models = tmp_path / "models"
    path = install(download, models, progress=lambda url, done, total: seen.append(done))
    assert path == models / "vosk-model-x"
    assert (path / "am" / "final.mdl").read_bytes() == b"model"
    assert seen and seen[-1] == len(data)
    assert [p.name for p in models.iterdir()] == ["vosk-model-x"]


def test_checksum_mismatch_installs_nothing(server, tmp_path: Path) -> None:
    base, root = server
    (root / "m.zip").write_bytes(make_zip({"a/b": b"c"}))
    download = Download("x", "asr-vosk", "vosk-model-x", (DownloadFile(f"{base}/m.zip", "0" * 64),), archive=True)
    models = tmp_path / "models"
    with pytest.raises(ModelDownloadError, match="checksum mismatch"):
        install(download, models)
    assert list(models.iterdir()) == []


def test_multi_file_model_keeps_its_layout(server, tmp_path: Path) -> None:
    base, root = server
    (root / "repo" / "1_Pooling").mkdir(parents=True)
    (root / "repo" / "config.json").write_text("{}")
    (root / "repo" / "1_Pooling" / "config.json").write_text('{"pool": 1}')
    files = (DownloadFile(f"{base}/repo/config.json", None), DownloadFile(f"{base}/repo/1_Pooling/config.json", None))
    path = install(Download("e", "embeddings", "emb", files), tmp_path / "models")
    assert (path / "1_Pooling" / "config.json").read_text() == '{"pool": 1}'


def test_missing_file_and_unreachable_host_fail_clearly(server, tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(ModelDownloadError, match="404"):
        install(Download("x", "llm", "llm", (DownloadFile(f"{base}/absent.gguf", None),)), tmp_path / "m1")
    with pytest.raises(ModelDownloadError) as info:
        install(Download("x", "llm", "llm", (DownloadFile("http://127.0.0.1:9/x.gguf", None),)), tmp_path / "m2")
    assert info.value.code == "model-download-failed"
    assert "reachable" in str(info.value)
    assert list((tmp_path / "m2").iterdir()) == []


def test_archive_with_path_traversal_is_refused(server, tmp_path: Path) -> None:
    base, root = server
    data = make_zip({"../../evil.txt": b"owned"})
    (root / "bad.zip").write_bytes(data)
    download = Download("x", "asr-vosk", "v", (DownloadFile(f"{base}/bad.zip", None),), archive=True)
    with pytest.raises(ModelDownloadError, match="unsafe path"):
        install(download, tmp_path / "models")
    assert not (tmp_path / "evil.txt").exists()
