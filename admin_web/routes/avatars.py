"""The Avatars page: the kiosk's faces, building one from an operator's photo or video, a test video, choosing one.

Viewers see the packs, their previews and test videos and the jobs in progress;
admins upload (with the consent statement ticked: whose face, and that this person
agreed), render a test video, choose the kiosk's avatar and delete a pack with its
source files. Uploads are checked before anything is kept (:mod:`admin_web.avatar_uploads`);
builds and renders run one at a time in the background (:mod:`admin_web.avatar_jobs`),
and the page follows them through ``/avatars/jobs/ID``. The audit log keeps who uploaded
which face and when, and who chose or deleted a pack.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from admin_web import avatar_library as library
from admin_web import settings_edit
from admin_web.avatar_jobs import AvatarJob, AvatarJobs, JobState
from admin_web.avatar_uploads import (
    CONSENT_STATEMENT,
    MAX_BACKGROUND_BYTES,
    MAX_PHOTO_BYTES,
    MAX_VIDEO_BYTES,
    PACK_NAME,
    AvatarUploadError,
    UploadedFile,
    stage_upload,
)
from admin_web.web import Actor, AdminState, AdminWrite, Viewer, render, state
from avatar.pack import MANIFEST
from core.db import utcnow
from core.errors import SettingsError
from core.settings import load_settings

_LOGGER = logging.getLogger(__name__)

router = APIRouter()

TEST_SENTENCE = "Hello! I am the new face of this kiosk. Ask me anything you would like to know."
MAX_SENTENCE = 300
NOTICES = {
    "avatar-queued": "Upload received: the avatar is being built below.",
    "avatar-test-queued": "The test video is being rendered below.",
    "avatar-chosen": "Avatar chosen. The kiosk shows it from its next start.",
    "avatar-deleted": "Avatar deleted with its source files.",
}
_JOBS_LOCK = threading.Lock()


def jobs(request: Request) -> AvatarJobs:
    """The app's avatar job queue, made on first use (its worker thread starts only when a job is queued)."""
    holder = request.app.state
    with _JOBS_LOCK:  # worker threads only: every caller is a plain (threadpool) function
        existing = getattr(holder, "avatar_jobs", None)
        if existing is None:
            st = state(request)
            existing = AvatarJobs(st.home.root, on_finish=lambda job: _audit_outcome(st, job))
            holder.avatar_jobs = existing
    return existing


def _audit_outcome(st: AdminState, job: AvatarJob) -> None:
    if job.kind != "build":
        return
    action = {JobState.DONE: "avatar-built", JobState.REFUSED: "avatar-refused"}.get(job.state, "avatar-failed")
    detail = "ready" if job.state is JobState.DONE else f"{job.code or 'error'}: {job.message}"
    st.accounts.audit(action, user=job.user, target=job.name, detail=detail)


def _chosen(st: AdminState) -> str:
    """The avatar the settings file names (what the kiosk shows), else the running settings'."""
    try:
        return load_settings(st.home.settings_file, env={}).avatar.name
    except SettingsError:
        return st.settings.avatar.name


def _queue_previews(request: Request, packs: list[library.PackInfo]) -> None:
    queue = jobs(request)
    missing = [p for p in packs if not p.preview_fresh and not p.error and not queue.busy_with(p.name)]
    if missing:
        key = ("previews", *sorted((p.name, (p.folder / MANIFEST).stat().st_mtime_ns) for p in missing))
        spec = {"kind": "previews", "home": str(state(request).home.root), "names": [p.name for p in missing]}
        queue.submit_once(key, "previews", "", "", spec)


def _page(request: Request, *, error: str = "", hint: str = "", form: dict | None = None, status: int = 200):
    st = state(request)
    packs = library.list_packs(st.home.root, _chosen(st))
    _queue_previews(request, packs)
    all_jobs = [j for j in jobs(request).recent() if j["kind"] != "previews" or not j["finished"]]
    building = {j["name"] for j in all_jobs if not j["finished"]}
    return render(
        request,
        "avatars.html",
        {
            "packs": packs,
            "jobs": [j for j in all_jobs if j["kind"] != "previews"],
            "previews_running": any(j["kind"] == "previews" for j in all_jobs),
            "active": any(not j["finished"] for j in all_jobs),
            "building": building,
            "focus_job": request.query_params.get("job", ""),
            "error": error,
            "hint": hint,
            "form": form or {},
            "statement": CONSENT_STATEMENT.format(who="The person named above"),
            "limits": {
                "photo": MAX_PHOTO_BYTES >> 20,
                "video": MAX_VIDEO_BYTES >> 20,
                "background": MAX_BACKGROUND_BYTES >> 20,
            },
            "test_sentence": TEST_SENTENCE,
            "max_sentence": MAX_SENTENCE,
            "flash": NOTICES.get(request.query_params.get("done", "")),
        },
        status=status,
    )


def _pack_or_404(request: Request, name: str) -> library.PackInfo:
    st = state(request)
    pack = library.find_pack(st.home.root, name, _chosen(st)) if PACK_NAME.fullmatch(name) else None
    if pack is None:
        raise HTTPException(404)
    return pack


@router.get("/avatars")
def avatars_page(request: Request, actor: Viewer) -> Response:
    return _page(request)


@router.get("/avatars/jobs/{job_id}")
def job_status(request: Request, actor: Viewer, job_id: str) -> Response:
    snapshot = jobs(request).get(job_id[:32])
    if snapshot is None:
        raise HTTPException(404)
    return JSONResponse(snapshot)


def _uploaded(value: object, role: str) -> UploadedFile | None:
    """A file field of the form, or None when the field was left empty (browsers send an empty part)."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    return UploadedFile(role=role, filename=value.filename, stream=value.file)


@router.post("/avatars/upload")
async def avatar_upload(request: Request, actor: AdminWrite) -> Response:
    form = await request.form()  # parsed once already by the CSRF check; files are spooled to disk
    fields = {key: str(form.get(key) or "")[:200] for key in ("name", "title", "consent_name")}
    flags = {key: form.get(key) == "1" for key in ("consent", "replace")}
    files = {role: _uploaded(form.get(role), role) for role in ("photo", "video", "background")}
    return await run_in_threadpool(_upload, request, actor, fields, flags, files)


def _upload(request: Request, actor: Actor, fields: dict[str, str], flags: dict[str, bool], files: dict) -> Response:
    """Check and stage the upload, queue the build, audit who uploaded whose face (worker thread)."""
    st = state(request)
    queue = jobs(request)
    name = fields["name"].strip()
    if queue.busy_with(name):
        return _page(request, error=f"{name!r} is being built or rendered right now.", form=fields, status=409)
    staging = queue.new_staging()
    try:
        staged = stage_upload(
            staging,
            library.avatars_dir(st.home.root),
            name=name,
            title=fields["title"],
            consent_name=fields["consent_name"],
            consent=flags["consent"],
            replace=flags["replace"],
            **files,
        )
    except AvatarUploadError as exc:
        _LOGGER.info("avatar upload refused [%s]: %s", exc.code, exc.message)
        return _page(request, error=exc.message, hint=exc.hint or "", form=fields, status=400)
    now = utcnow()
    record = {
        "created_by": actor.name,
        "created_at": now,
        "consent": {
            "name": staged.consent_name,
            "statement": CONSENT_STATEMENT.format(who=staged.consent_name),
            "given_by": actor.name,
            "given_at": now,
            "ip": actor.ip,
        },
        "sources": [stored.record() for stored in staged.files.values()],
    }
    spec = {
        "kind": "build",
        "home": str(st.home.root),
        "name": staged.name,
        "title": staged.title,
        "replace": staged.replace,
        "staging": str(staging),
        "record": record,
        **{role: str(stored.path) for role, stored in staged.files.items()},
        "shown": {role: stored.original_name for role, stored in staged.files.items()},
    }
    files_text = "; ".join(
        f"{s.role} {s.original_name!r} ({s.size} bytes, sha256 {s.sha256[:16]})" for s in staged.files.values()
    )
    st.accounts.audit(
        "avatar-upload",
        user=actor.name,
        ip=actor.ip,
        target=staged.name,
        detail=f"face of {staged.consent_name} (consent ticked){' replacing' if staged.replace else ''}; {files_text}",
    )
    job = queue.submit("build", staged.name, actor.name, spec, staging=staging)
    return RedirectResponse(f"/avatars?done=avatar-queued&job={job['id']}", status_code=303)


@router.post("/avatars/{name}/test")
async def avatar_test(request: Request, actor: AdminWrite, name: str) -> Response:
    form = await request.form()
    text = str(form.get("text") or "")
    return await run_in_threadpool(_queue_test_video, request, actor, name, text)


def _queue_test_video(request: Request, actor: Actor, name: str, text: str) -> Response:
    pack = _pack_or_404(request, name)
    queue = jobs(request)
    text = " ".join(text.split()) or TEST_SENTENCE
    if len(text) > MAX_SENTENCE or any(unicodedata.category(c).startswith("C") for c in text):
        return _page(
            request, error=f"The test sentence must be plain text of at most {MAX_SENTENCE} characters.", status=400
        )
    if pack.error:
        return _page(request, error=f"The avatar {name!r} cannot be shown: {pack.error}", status=400)
    if queue.busy_with(name):
        return _page(request, error=f"{name!r} is being built or rendered right now.", status=409)
    if pack.builtin:
        pack.media.mkdir(parents=True, exist_ok=True)  # in the cache: a built-in pack's folder is read-only
    spec = {"kind": "render", "home": str(state(request).home.root), "name": name, "text": text}
    spec["out"] = str(pack.test_video)
    job = queue.submit("render", name, actor.name, spec)
    return RedirectResponse(f"/avatars?done=avatar-test-queued&job={job['id']}", status_code=303)


def _media(request: Request, name: str, path_of, media_type: str) -> Response:
    pack = _pack_or_404(request, name)
    path: Path = path_of(pack)
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type=media_type)


@router.get("/avatars/{name}/preview.png")
def avatar_preview(request: Request, actor: Viewer, name: str) -> Response:
    return _media(request, name, lambda pack: pack.preview, "image/png")


@router.get("/avatars/{name}/test.mp4")
def avatar_test_video(request: Request, actor: Viewer, name: str) -> Response:
    return _media(request, name, lambda pack: pack.test_video, "video/mp4")


@router.post("/avatars/{name}/choose")
def avatar_choose(request: Request, actor: AdminWrite, name: str) -> Response:
    """Write ``[avatar] name`` with the Settings page's writer; one settings save at a time (``st.lock``)."""
    st = state(request)
    pack = _pack_or_404(request, name)
    if pack.error:
        return _page(request, error=f"The avatar {name!r} cannot be shown: {pack.error}", status=400)

    def audit(setting: str, old, new) -> None:
        st.accounts.audit("avatar-choose", user=actor.name, ip=actor.ip, target=name, detail=f"was {old!r}")

    errors, _changes = settings_edit.save(st, {"avatar.name": name}, actor.name, audit)
    if errors:
        return _page(request, error="Not chosen: " + "; ".join(errors.values()), status=400)
    return RedirectResponse("/avatars?done=avatar-chosen", status_code=303)


@router.post("/avatars/{name}/delete")
def avatar_delete(request: Request, actor: AdminWrite, name: str) -> Response:
    st = state(request)
    pack = _pack_or_404(request, name)
    if pack.builtin:
        return _page(request, error=f"{name!r} is a built-in avatar: it cannot be deleted.", status=400)
    if pack.on_screen:
        return _page(
            request, error=f"{name!r} is the kiosk's avatar: choose another one before deleting it.", status=400
        )
    if jobs(request).busy_with(name):
        return _page(request, error=f"{name!r} is being built or rendered right now.", status=409)
    library.delete_pack(st.home.root, name)
    face = f"face of {pack.consent_name}; " if pack.consent_name else ""
    sources = ", ".join(pack.sources) or "no source files"
    st.accounts.audit("avatar-delete", user=actor.name, ip=actor.ip, target=name, detail=f"{face}deleted {sources}")
    return RedirectResponse("/avatars?done=avatar-deleted", status_code=303)
