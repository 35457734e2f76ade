"""The admin app's Avatars page over HTTP: uploads checked and refused, a pack built from a real portrait,
its test video rendered and served, chosen, deleted; roles and the audit log. Then the page in Chromium.

The portrait is matplotlib's ``grace_hopper.jpg`` (public domain, shipped in the package); no face is
kept in the repository. Builds and renders run for real in the app's background worker (MediaPipe,
the photo renderer, piper, ffmpeg).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.fakes import wait_until
from tests.test_admin_support import PASSWORD, Signed, make_app, signed_in

pytestmark = [pytest.mark.models, pytest.mark.slow]

cv2 = pytest.importorskip("cv2")
JOB_GUARD_S = 600.0  # a hang guard for a background job, never a speed bound


@pytest.fixture(scope="module")
def portrait() -> Path:
    matplotlib = pytest.importorskip("matplotlib")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        pytest.skip("matplotlib's sample portrait is not installed")
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    return make_app(tmp_path_factory.mktemp("admin-avatars") / "home")


@pytest.fixture(scope="module")
def users(app) -> dict[str, Signed]:
    return {role: signed_in(app, role) for role in ("viewer", "editor", "admin")}


def home(app) -> Path:
    return app.state.admin.home.root


def audit_rows(app, action: str) -> list[dict]:
    return list(app.state.admin.db.query("SELECT * FROM audit_log WHERE action = ? ORDER BY id", [action]))


def upload(who: Signed, files: dict[str, tuple[str, bytes]], **fields: str):
    data = {"csrf_token": who.csrf, "name": "grace", "consent_name": "Grace Hopper", "consent": "1", **fields}
    parts = {role: (filename, content, "application/octet-stream") for role, (filename, content) in files.items()}
    return who.client.post("/avatars/upload", data=data, files=parts, follow_redirects=False)


def job_id(response) -> str:
    assert response.status_code == 303, response.text[-2000:]
    return response.headers["location"].split("job=")[1]


def finished_job(who: Signed, job: str) -> dict:
    """Poll the status endpoint the page's script polls until the job ends."""
    seen: dict = {}

    def ended() -> bool:
        seen.update(who.client.get(f"/avatars/jobs/{job}").json())
        return bool(seen["finished"])

    assert wait_until(ended, JOB_GUARD_S), seen
    return seen


def nothing_stored(app) -> None:
    avatars = home(app) / "avatars"
    packs = [p.name for p in avatars.iterdir() if not p.name.startswith(".")] if avatars.exists() else []
    staged = list((avatars / ".staging").iterdir()) if (avatars / ".staging").exists() else []
    assert "grace" not in packs and "nobody" not in packs and not staged, (packs, staged)


def png_bomb() -> bytes:
    """A PNG whose header claims 30000 x 30000 pixels (900 megapixels) over a few bytes of data."""
    chunk = b"IHDR" + struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(30000 * 3 + 1) * 4)
    body = b"IDAT" + idat
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat))
        + body
        + struct.pack(">I", zlib.crc32(body))
    )


def chart_png() -> bytes:
    """A real picture without a face: a matplotlib chart, 1000 x 800 pixels."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 8), dpi=100)
    x = np.linspace(0, 10, 200)
    ax.plot(x, np.sin(x), x, np.cos(x))
    ax.set_title("Visitors per hour")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- roles


def test_viewers_see_the_list_and_only_admins_change_it(app, users) -> None:
    page = users["viewer"].client.get("/avatars")
    assert page.status_code == 200
    for name in ("presenter", "mascot"):
        assert f'id="pack-{name}"' in page.text
    assert "on screen" in page.text and 'href="/avatars"' in page.text  # the chosen one, and the menu entry
    assert 'action="/avatars/upload"' not in page.text and "/choose" not in page.text
    for role in ("viewer", "editor"):
        who = users[role]
        assert upload(who, {"photo": ("a.jpg", b"\xff\xd8\xff" + bytes(100))}).status_code == 403
        assert who.post("/avatars/mascot/choose").status_code == 403
        assert who.post("/avatars/mascot/delete").status_code == 403
        assert who.post("/avatars/mascot/test").status_code == 403
    assert 'action="/avatars/upload"' in users["admin"].client.get("/avatars").text
    assert not audit_rows(app, "avatar-upload") and not audit_rows(app, "avatar-choose")
    signed_out = TestClient(app)
    assert signed_out.get("/avatars", follow_redirects=False).status_code == 303  # to the sign-in page


def test_built_in_and_unknown_packs(app, users, tmp_path: Path) -> None:
    admin = users["admin"]
    refused = admin.post("/avatars/presenter/delete")
    assert refused.status_code == 400 and "built-in avatar" in refused.text
    assert refused.status_code == 400 and "cannot be deleted" in refused.text
    for bad in ("nobody", "..", "Presenter", "a%2F..%2Fetc"):
        assert admin.post(f"/avatars/{bad}/choose").status_code == 404
        assert admin.client.get(f"/avatars/{bad}/test.mp4").status_code == 404
    assert admin.client.get("/avatars/jobs/nosuchjob").status_code == 404
    assert not (home(app) / "settings.toml").exists()  # nothing chosen

    # a built-in pack's test video goes to the cache: its own folder is part of the program
    job = finished_job(admin, job_id(admin.post("/avatars/mascot/test", {"text": "Hi there!"})))
    assert job["state"] == "done", job
    kept = home(app) / "cache" / "avatar-media" / "mascot" / "test.mp4"
    served = admin.client.get("/avatars/mascot/test.mp4")
    assert served.status_code == 200 and served.content == kept.read_bytes()
    assert len(decoded_frames_of(served.content, tmp_path)) >= 10
    from avatar.pack import BUILTIN_PACKS

    assert sorted(p.name for p in (BUILTIN_PACKS / "mascot").iterdir()) == ["manifest.json"]


# ----------------------------------------------------------------------------- refusals before anything is kept


def test_an_upload_without_consent_is_refused_and_nothing_is_kept(app, users, portrait: Path) -> None:
    admin = users["admin"]
    photo = {"photo": ("grace.jpg", portrait.read_bytes())}
    response = upload(admin, photo, consent="")
    assert response.status_code == 400
    assert "consent statement was not ticked" in response.text and "nothing was uploaded" in response.text
    assert 'value="Grace Hopper"' in response.text  # the form keeps what was typed
    no_name = upload(admin, photo, consent_name=" ")
    assert no_name.status_code == 400 and "say whose face this is" in no_name.text
    nothing_stored(app)
    assert not audit_rows(app, "avatar-upload")


BAD_FILES = {
    "text renamed .jpg": ({"photo": ("grace.jpg", b"name,answer\nhello,world\n" * 50)}, "not a file type"),
    "GIF": ({"photo": ("grace.gif", b"GIF89a" + bytes(500))}, "GIF image"),
    "HEIC": ({"photo": ("grace.heic", b"\x00\x00\x00\x18ftypheic" + bytes(500))}, "HEIC/HEIF"),
    "decompression bomb": ({"photo": ("bomb.png", png_bomb())}, "30000x30000 pixels is too large"),
    "empty": ({"photo": ("empty.png", b"")}, "is empty"),
    "video as photo": ({"photo": ("clip.jpg", b"\x00\x00\x00\x18ftypisom" + bytes(500))}, "a video"),
    "photo as video": ({"video": ("clip.mp4", b"\xff\xd8\xff\xe0" + bytes(500))}, "an image"),
    "no file": ({}, "no photo or video was chosen"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_with_its_reason(app, users, case: str) -> None:
    files, reason = BAD_FILES[case]
    response = upload(users["admin"], files)
    assert response.status_code == 400, response.text[-500:]
    assert reason in response.text
    nothing_stored(app)


def test_photo_and_video_together_and_bad_names(app, users, portrait: Path) -> None:
    admin = users["admin"]
    both = {"photo": ("grace.jpg", portrait.read_bytes()), "video": ("clip.mp4", b"\x00\x00\x00\x18ftypisom")}
    assert "not both" in upload(admin, both).text
    photo = {"photo": ("grace.jpg", portrait.read_bytes())}
    for name, reason in (
        ("../../etc", "cannot be used"),
        ("Grace", "cannot be used"),
        ("", "cannot be used"),
        ("presenter", "is a built-in avatar"),
    ):
        response = upload(admin, photo, name=name)
        assert response.status_code == 400 and reason in response.text, name
    nothing_stored(app)
    assert not (home(app).parent / "etc").exists()


def test_sizes_are_limited_per_file_and_per_route(app, users, portrait: Path, monkeypatch) -> None:
    from admin_web import avatar_uploads, security

    admin = users["admin"]
    big = b"\xff\xd8\xff\xe0" + bytes(3 << 20)  # 3 MB: over the 1 MiB of any other form, under this route's limit
    monkeypatch.setattr(avatar_uploads, "MAX_PHOTO_BYTES", 2 << 20)
    over = upload(admin, {"photo": ("huge.jpg", big)})
    assert over.status_code == 400 and "larger than 2 MB" in over.text
    assert (
        admin.client.post("/avatars/mascot/choose", data={"csrf_token": admin.csrf, "x": "y" * (2 << 20)}).status_code
        == 413
    )
    monkeypatch.setitem(security.ROUTE_BODY_LIMITS, "/avatars/upload", 1 << 20)
    assert upload(admin, {"photo": ("huge.jpg", big)}).status_code == 413
    assert security.body_limit("/import") == security.UPLOAD_BODY_LIMIT  # the others unchanged
    assert security.body_limit("/avatars/mascot/choose") == security.DEFAULT_BODY_LIMIT
    nothing_stored(app)


# ----------------------------------------------------------------------------- refused by the builder


def test_a_photo_without_a_face_is_refused_by_the_builder_and_nothing_is_half_built(app, users) -> None:
    admin = users["admin"]
    response = upload(admin, {"photo": ("chart.png", chart_png())}, name="nobody", consent_name="Nobody")
    job = finished_job(admin, job_id(response))
    assert job["state"] == "refused" and job["code"] == "avatar-photo-no-face", job
    assert "no face" in job["message"] and ".staging" not in job["message"]  # one line, no server path
    assert "photo" in job["hint"]  # what photo to take instead
    page = admin.client.get(f"/avatars?job={job['id']}").text
    assert job["message"].replace("'", "&#39;") in page and "avatar-photo-no-face" in page
    nothing_stored(app)
    refused = audit_rows(app, "avatar-refused")
    assert refused and refused[-1]["target"] == "nobody" and "avatar-photo-no-face" in refused[-1]["detail"]


# ----------------------------------------------------------------------------- the journey


def test_build_watch_choose_and_delete_a_pack(app, users, portrait: Path, tmp_path: Path) -> None:
    admin, viewer = users["admin"], users["viewer"]
    avatars = home(app) / "avatars"
    uploaded = portrait.read_bytes()
    job = finished_job(admin, job_id(upload(admin, {"photo": ("grace.jpg", uploaded)}, title="Grace")))
    assert job["state"] == "done" and job["percent"] == 100, job

    # the pack on disk, with its source and who agreed; it loads and its preview was rendered from it
    folder = avatars / "grace"
    assert (folder / "source" / "photo.jpg").read_bytes() == uploaded
    record = json.loads((folder / "admin.json").read_text(encoding="utf-8"))
    assert record["created_by"] == "admin" and record["consent"]["name"] == "Grace Hopper"
    assert "agreed" in record["consent"]["statement"] and record["sources"][0]["original_name"] == "grace.jpg"
    from avatar.pack import load_pack

    pack = load_pack("grace", home(app))
    assert pack.style == "photo" and pack.title == "Grace"
    preview = cv2.imread(str(folder / "preview.png"))
    canvas = cv2.resize(cv2.imread(str(folder / "portrait.png")), preview.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert preview.shape == (640, 360, 3) and np.abs(preview.astype(float) - canvas).mean() < 8
    assert viewer.client.get("/avatars/grace/preview.png").headers["content-type"] == "image/png"
    page = viewer.client.get("/avatars").text
    assert 'id="pack-grace"' in page and "Grace Hopper" in page and "photo" in page
    assert not list((avatars / ".staging").iterdir())

    # an existing name needs "replace"
    again = upload(admin, {"photo": ("grace.jpg", uploaded)})
    assert again.status_code == 400 and "exists already" in again.text

    # the test video: the kiosk's voice, the pack's mouth moving, served to signed-in users only
    rendered = finished_job(admin, job_id(admin.post("/avatars/grace/test", {"text": "Welcome! How can I help you?"})))
    assert rendered["state"] == "done", rendered
    video = viewer.client.get("/avatars/grace/test.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert viewer.client.get("/avatars/grace/test.mp4", headers={"Range": "bytes=0-99"}).status_code == 206
    assert TestClient(app).get("/avatars/grace/test.mp4", follow_redirects=False).status_code == 303
    clip = tmp_path / "test.mp4"
    clip.write_bytes(video.content)
    frames = decoded_frames(clip)
    assert frames.shape[1:] == (960, 540, 3) and len(frames) >= 30
    from avatar.video import probe_duration

    assert probe_duration(clip).get("audio", 0.0) > 1.0
    head, mouth = pack.parts["head"], pack.parts["mouth"]
    k = 960 / pack.height

    def motion(cx: float, cy: float) -> float:  # the mean change of a box over the clip
        w, h = mouth["width"] * k, mouth["width"] * k * 0.6
        box = frames[:, int(cy - h / 2) : int(cy + h / 2), int(cx - w / 2) : int(cx + w / 2)]
        return float(box.std(axis=0).mean())

    lips = motion(head["x"] * k, (head["y"] + mouth["y"]) * k)
    forehead = motion(head["x"] * k, (head["y"] - 0.3 * head["height"]) * k)
    assert lips > 8 and lips > 1.4 * forehead, (lips, forehead)
    assert "<video" in viewer.client.get("/avatars").text

    # replace it, built from a video this time: the app's own test video of her speaking
    rebuilt = finished_job(admin, job_id(upload(admin, {"video": ("grace.mp4", video.content)}, replace="1")))
    assert rebuilt["state"] == "done", rebuilt
    assert (folder / "source" / "video.mp4").read_bytes() == video.content
    assert not (folder / "source" / "photo.jpg").exists() and not (folder / "test.mp4").exists()
    assert json.loads((folder / "photo.json").read_text(encoding="utf-8"))["video"]["frames"] == len(frames)
    assert 'badge kind-video">video' in viewer.client.get("/avatars").text

    # choose it: settings.toml through the Settings page's writer, recorded and audited
    assert admin.post("/avatars/grace/choose").headers["location"] == "/avatars?done=avatar-chosen"
    assert 'name = "grace"' in (home(app) / "settings.toml").read_text(encoding="utf-8")
    assert app.state.admin.settings.avatar.name == "grace"
    override = app.state.admin.db.execute("SELECT value, updated_by FROM settings_overrides WHERE key = 'name'")
    assert override.fetchone() == ("'grace'", "admin")
    kept = admin.post("/avatars/grace/delete")
    assert kept.status_code == 400 and "choose another one" in kept.text and folder.is_dir()

    # delete it, source files included, once another is on screen
    admin.post("/avatars/presenter/choose")
    assert admin.post("/avatars/grace/delete").headers["location"] == "/avatars?done=avatar-deleted"
    assert not folder.exists() and not list((avatars / ".staging").iterdir())
    assert admin.client.get("/avatars/grace/test.mp4").status_code == 404

    # the audit log: who uploaded whose face and when, who chose, who deleted
    uploaded_rows = [r for r in audit_rows(app, "avatar-upload") if r["target"] == "grace"]
    assert (
        uploaded_rows[0]["username"] == "admin"
        and "face of Grace Hopper (consent ticked)" in uploaded_rows[0]["detail"]
    )
    assert uploaded_rows[0]["ts"] and "grace.jpg" in uploaded_rows[0]["detail"]
    assert [r["target"] for r in audit_rows(app, "avatar-built")][-1] == "grace"
    assert [r["target"] for r in audit_rows(app, "avatar-choose")][-2:] == ["grace", "presenter"]
    deleted = audit_rows(app, "avatar-delete")[-1]
    assert (
        deleted["username"] == "admin"
        and "Grace Hopper" in deleted["detail"]
        and "source/video.mp4" in deleted["detail"]
    )
    assert "avatar-upload" in admin.client.get("/audit?action=avatar").text


def decoded_frames_of(content: bytes, folder: Path) -> np.ndarray:
    path = folder / "served.mp4"
    path.write_bytes(content)
    return decoded_frames(path)


def decoded_frames(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame.astype(np.float32))
    capture.release()
    assert frames, "the MP4 has no decodable frame"
    return np.stack(frames)


# ----------------------------------------------------------------------------- in a real browser


@pytest.mark.browser
@pytest.mark.network
def test_the_page_in_chromium(tmp_path: Path, portrait: Path) -> None:
    """Upload through the form, follow the build by the page's script, render a test video and play it."""
    from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, _free_port

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    import threading

    import uvicorn

    app = make_app(tmp_path / "home")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, 60)
    base = f"http://127.0.0.1:{port}"
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(int(JOB_GUARD_S * 1000))
            problems: list[str] = []
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.click("#sidebar a[href='/avatars']")
            page.fill("input[name=name]", "grace")
            page.fill("input[name=consent_name]", "Grace Hopper")
            page.set_input_files("input[name=photo]", str(portrait))
            page.check("input[name=consent]")
            page.click(".upload-card button[type=submit]")
            page.wait_for_load_state()
            page.screenshot(
                path=str(SHOTS / "admin-avatars-building.png"), full_page=True
            )  # progress, if still running
            page.wait_for_selector("#pack-grace img")  # the script followed the job and reloaded the page
            page.click("#pack-grace .test-form button")
            page.wait_for_selector("#pack-grace video")
            duration = page.evaluate(
                """() => new Promise((done) => {
                    const video = document.querySelector('#pack-grace video');
                    if (video.readyState >= 1) { done(video.duration); return; }
                    video.addEventListener('loadedmetadata', () => done(video.duration));
                    video.addEventListener('error', () => done(-1));
                })"""
            )
            assert duration > 1.0, duration
            page.screenshot(path=str(SHOTS / "admin-avatars.png"), full_page=True)
            assert not problems, problems
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
