"""The kiosk's fleet agent: join once, then sync (heartbeat + target, pull knowledge, push turns).

A sync converges the kiosk to the server's *target* (the newest version of each knowledge base, avatar
pack and of the settings published for its site), never the other way round. Packs come before
settings, so settings naming a new pack find it installed. A download is checked (digest, every entry
valid) before anything changes; the old version answers until the new one is committed. Turns
leave the outbox only once the server has acknowledged them, so a kiosk may stay offline for
any length of time and a resend is harmless (the server keeps each kiosk's turn once).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.db import open_database, utcnow
from core.errors import KioskError
from core.heartbeat import read_heartbeat
from core.home import KioskHome
from core.settings import FleetSection
from fleet.apply import apply_avatar, apply_settings
from fleet.errors import (
    CredentialRejectedError,
    DownloadInvalidError,
    FleetError,
    RequestRefusedError,
    ServerUnreachableError,
)
from fleet.faults import pause_point
from fleet.health import machine_health
from fleet.local import (
    Credential,
    load_applied,
    load_credential,
    load_sync_state,
    require_credential,
    save_credential,
    save_sync_state,
)
from fleet.outbox import (
    applied_versions,
    apply_version,
    documents_from_payload,
    entries_from_payload,
    mark_shipped,
    pending_count,
    pending_turns,
)
from fleet.packs import MAX_ARCHIVE_BYTES
from fleet.protocol import API, PUSH_BATCH, version_digest
from knowledge.store import FaqStore

_LOGGER = logging.getLogger(__name__)

RETRIES = 3
RETRY_BASE_S = 0.5
TIMEOUT_S = 30.0


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kiosk-avatar")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class SyncReport:
    kiosk_id: str = ""
    site: str = ""
    applied: dict[str, int] = field(default_factory=dict)
    kb_versions: dict[str, int] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)  # kb -> documents in the version applied now
    settings: int | None = None  # the settings version applied now
    settings_version: int = 0
    avatars: dict[str, int] = field(default_factory=dict)  # packs installed now
    avatar_versions: dict[str, int] = field(default_factory=dict)
    pushed: int = 0
    duplicates: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kiosk_id": self.kiosk_id,
            "site": self.site,
            "applied": self.applied,
            "kb_versions": self.kb_versions,
            "documents": self.documents,
            "settings": self.settings,
            "settings_version": self.settings_version,
            "avatars": self.avatars,
            "avatar_versions": self.avatar_versions,
            "pushed": self.pushed,
            "duplicates": self.duplicates,
            "pending": self.pending,
            "errors": self.errors,
        }


def _table(value: Any) -> dict[str, dict[str, Any]]:
    """A ``{name: {...}}`` part of the server's answer, or nothing when it is missing or malformed."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, dict)}


class FleetClient:
    """HTTP to the fleet server, with retries and back-off on network errors and 5xx answers."""

    def __init__(
        self,
        server: str,
        credential: str = "",
        *,
        ca_cert: str = "",
        retries: int = RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        self.server = server.rstrip("/")
        self.retries = retries
        self.http = httpx.Client(
            base_url=self.server, headers=headers, timeout=TIMEOUT_S, verify=ca_cert or True, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One API call with retries; its JSON answer, or a clear error."""
        return self._result(self._send(method, path, body))

    def download(self, path: str, max_bytes: int) -> bytes:
        """A binary download (an avatar pack) with retries; refused when larger than ``max_bytes``."""
        response = self._send("GET", path, None)
        if response.status_code >= 400:
            self._result(response)  # raises with the server's error
        if len(response.content) > max_bytes:
            raise DownloadInvalidError(f"{path}: {len(response.content)} bytes; at most {max_bytes}")
        return response.content

    def _send(self, method: str, path: str, body: Any) -> httpx.Response:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(RETRY_BASE_S * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))
            try:
                response = self.http.request(method, API + path, content=content, headers=headers)
            except httpx.HTTPError as exc:
                last = exc
                _LOGGER.info("fleet %s %s failed (%s), attempt %d", method, path, exc, attempt + 1)
                continue
            if response.status_code >= 500:
                last = RuntimeError(f"HTTP {response.status_code}")
                continue
            return response
        raise ServerUnreachableError(
            f"the fleet server {self.server} did not answer {method} {path}: {last}",
            hint="the kiosk keeps answering offline and tries again later; check the network and the server",
        )

    @staticmethod
    def _result(response: httpx.Response) -> Any:
        if response.status_code < 400:
            try:
                return response.json()
            except ValueError as exc:
                raise DownloadInvalidError(f"the server's answer is not JSON: {exc}") from exc
        try:
            error = response.json().get("error", {})
        except (ValueError, AttributeError):
            error = {}
        message = error.get("message") or response.text[:200] or f"HTTP {response.status_code}"
        code = error.get("code") or f"http-{response.status_code}"
        if response.status_code == 401:
            raise CredentialRejectedError(
                f"the fleet server refused this kiosk's credential ({code}): {message}",
                hint="the kiosk was revoked or removed; join again with `kiosk fleet join URL CODE`",
            )
        raise RequestRefusedError(
            f"the fleet server refused the request (HTTP {response.status_code}, {code}): {message}",
            hint=error.get("hint") or "nothing was changed",
        )


class FleetAgent:
    """One kiosk home's fleet membership."""

    def __init__(
        self,
        home: KioskHome,
        settings: FleetSection | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        retries: int = RETRIES,
    ) -> None:
        self.home = home
        self.settings = settings or FleetSection()
        self.transport = transport
        self.retries = retries
        self._store: FaqStore | None = None

    @property
    def store(self) -> FaqStore:
        if self._store is None:
            self._store = FaqStore(open_database(self.home.database))
        return self._store

    def _client(self, server: str, credential: str = "") -> FleetClient:
        return FleetClient(
            server, credential, ca_cert=self.settings.ca_cert, retries=self.retries, transport=self.transport
        )

    # -- join -------------------------------------------------------------
    def join(self, server: str, code: str) -> Credential:
        """Exchange a one-time enrolment code for this kiosk's own credential (stored 0600)."""
        if not server.startswith(("http://", "https://")):
            raise FleetError(
                f"{server!r} is not a server URL", code="fleet-url-invalid", hint="like https://fleet:8090"
            )
        client = self._client(server)
        try:
            answer = client.request("POST", "/join", {"code": code, "software_version": software_version()})
        finally:
            client.close()
        credential = Credential(
            server=server.rstrip("/"),
            kiosk_id=str(answer["kiosk_id"]),
            site=str(answer["site"]),
            credential=str(answer["credential"]),
            joined_at=utcnow(),
        )
        save_credential(self.home.root, credential)
        _LOGGER.info("joined the fleet at %s as %s (site %s)", server, credential.kiosk_id, credential.site)
        return credential

    # -- sync -------------------------------------------------------------
    def sync(self) -> SyncReport:
        """One heartbeat, pull and push now. Raises when the server is unreachable or refuses the credential."""
        credential = require_credential(self.home.root)
        state = load_sync_state(self.home.root)
        report = SyncReport(kiosk_id=credential.kiosk_id, site=credential.site)
        client = self._client(self.settings.server_url or credential.server, credential.credential)
        try:
            answer = self._heartbeat(client, state.get("last_error", ""))
            for kb, wanted in sorted(_table(answer.get("target")).items()):
                self._pull(client, kb, wanted, report)
            self._pull_extras(client, answer, report)
            self._push(client, report)
            if report.applied or report.avatars or report.settings or report.errors:
                self._heartbeat(client, "; ".join(report.errors))
        except KioskError as exc:
            report.errors.append(f"[{exc.code}] {exc.message}")
            self._save_state(state, report)
            raise
        finally:
            client.close()
        self._save_state(state, report)
        return report

    def _save_state(self, state: dict[str, Any], report: SyncReport) -> None:
        now = utcnow()
        state.update(last_sync_at=now, last_error="; ".join(report.errors), last_report=report.to_dict())
        if report.ok:
            state["last_success_at"] = now
        try:
            save_sync_state(self.home.root, state)
        except OSError:
            _LOGGER.warning("cannot write the fleet sync state", exc_info=True)

    def _heartbeat(self, client: FleetClient, last_error: str) -> dict[str, Any]:
        """Report, and get the answer: ``target`` (knowledge), ``settings`` and ``avatars``."""
        beat = read_heartbeat(self.home.root)
        kiosk_error = (beat.data or {}).get("last_error", "") if beat.fresh else ""
        applied = load_applied(self.home.root)
        body = {
            "state": str((beat.data or {}).get("state", "running"))[:40] if beat.fresh else "stopped",
            "kb_versions": applied_versions(self.store.db),
            "settings_version": applied["settings"],
            "avatar_versions": applied["avatars"],
            "software_version": software_version(),
            "last_error": (last_error or str(kiosk_error or ""))[:2000],
            "health": {**machine_health(self.home.root), "pending_turns": pending_count(self.store.db)},
        }
        answer = client.request("POST", "/heartbeat", body)
        return answer if isinstance(answer, dict) else {}

    def _pull_extras(self, client: FleetClient, answer: dict[str, Any], report: SyncReport) -> None:
        """Avatar packs, then settings (which may name a new pack): each checked whole before it is switched in."""
        applied = load_applied(self.home.root)
        report.avatar_versions = dict(applied["avatars"])
        report.settings_version = applied["settings"]
        for name, wanted in sorted(_table(answer.get("avatars")).items()):
            version = int(wanted.get("version", 0))
            if version <= applied["avatars"].get(name, 0):
                continue

            def install(name: str = name, wanted: dict[str, Any] = wanted, version: int = version) -> None:
                limit = int(wanted.get("size") or 0) or MAX_ARCHIVE_BYTES
                data = client.download(f"/avatar/{name}/{version}", min(limit, MAX_ARCHIVE_BYTES))
                apply_avatar(self.home.root, name, data, wanted)
                report.avatars[name] = report.avatar_versions[name] = version

            self._guarded(f"avatar {name} version {version}", install, report)
        wanted_settings = answer.get("settings")
        if isinstance(wanted_settings, dict) and int(wanted_settings.get("version", 0)) > applied["settings"]:
            version = int(wanted_settings["version"])

            def settings() -> None:
                payload = client.request("GET", f"/settings/{version}")
                apply_settings(self.home.root, payload, wanted_settings)
                report.settings = report.settings_version = version

            self._guarded(f"settings version {version}", settings, report)

    @staticmethod
    def _guarded(what: str, step: Callable[[], None], report: SyncReport) -> None:
        """Run one download-and-apply; a refused or broken one is reported and changes nothing."""
        try:
            step()
        except (ServerUnreachableError, CredentialRejectedError):
            raise
        except KioskError as exc:
            _LOGGER.warning("fleet: %s not applied: %s", what, exc)
            report.errors.append(f"[{exc.code}] {what}: {exc.message}")
        except OSError as exc:
            _LOGGER.warning("fleet: %s not applied: %s", what, exc)
            report.errors.append(f"[fleet-apply-failed] {what}: {exc}")

    def _pull(self, client: FleetClient, kb: str, wanted: dict[str, Any], report: SyncReport) -> None:
        version = int(wanted.get("version", 0))
        current = applied_versions(self.store.db).get(kb, 0)
        report.kb_versions[kb] = current
        if version <= current:
            return
        try:
            payload = client.request("GET", f"/kb/{kb}/{version}")
            entries_raw = payload.get("entries") if isinstance(payload, dict) else None
            documents_raw = payload.get("documents") if isinstance(payload, dict) else None
            if not isinstance(entries_raw, list) or version_digest(entries_raw, documents_raw) != payload.get("sha256"):
                raise DownloadInvalidError(
                    f"{kb} version {version}: the download does not match its digest",
                    hint="nothing was changed; the next sync downloads it again",
                )
            if payload.get("sha256") != wanted.get("sha256"):
                raise DownloadInvalidError(f"{kb} version {version}: not the version the server announced")
            documents = None if documents_raw is None else documents_from_payload(documents_raw)
            entries = entries_from_payload(entries_raw, allow_empty=bool(documents))
            pause_point("downloaded")
            apply_version(self.store, kb, version, payload["sha256"], str(payload.get("title", "")), entries, documents)
            if documents is not None:
                report.documents[kb] = len(documents)
        except (DownloadInvalidError, RequestRefusedError) as exc:
            _LOGGER.warning("fleet: %s version %d not applied: %s", kb, version, exc)
            report.errors.append(f"[{exc.code}] {exc.message}")
            return
        except KioskError as exc:
            if isinstance(exc, ServerUnreachableError | CredentialRejectedError):
                raise
            _LOGGER.warning("fleet: %s version %d not applied: %s", kb, version, exc)
            report.errors.append(f"[{exc.code}] {kb} version {version}: {exc.message}")
            return
        report.applied[kb] = version
        report.kb_versions[kb] = version

    def _push(self, client: FleetClient, report: SyncReport) -> None:
        db = self.store.db
        while True:
            batch = pending_turns(db, PUSH_BATCH)
            if not batch:
                break
            answer = client.request(
                "POST", "/turns", {"kiosk_id": report.kiosk_id, "site": report.site, "turns": batch}
            )
            acked = [int(i) for i in answer.get("acked", [])]
            if not acked:
                report.errors.append("the server acknowledged none of the turns sent")
                break
            mark_shipped(db, acked)
            report.pushed += int(answer.get("stored", 0))
            report.duplicates += int(answer.get("duplicates", 0))
        report.pending = pending_count(db)

    # -- status and the loop ----------------------------------------------
    def status(self) -> dict[str, Any]:
        credential = load_credential(self.home.root)
        if credential is None:
            return {"joined": False}
        state = load_sync_state(self.home.root)
        return {
            "joined": True,
            "server": self.settings.server_url or credential.server,
            "kiosk_id": credential.kiosk_id,
            "site": credential.site,
            "joined_at": credential.joined_at,
            "kb_versions": applied_versions(self.store.db),
            "settings_version": load_applied(self.home.root)["settings"],
            "avatar_versions": load_applied(self.home.root)["avatars"],
            "pending_turns": pending_count(self.store.db),
            "last_sync_at": state.get("last_sync_at"),
            "last_success_at": state.get("last_success_at"),
            "last_error": state.get("last_error", ""),
        }

    def run_forever(
        self, *, stop: Callable[[], bool] = lambda: False, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Sync every ``sync_interval_s``; while it fails, wait twice as long each time (up to ``max_backoff_s``)."""
        failures = 0
        while not stop():
            try:
                report = self.sync()
                failures = 0 if report.ok else failures
            except CredentialRejectedError:
                raise
            except KioskError as exc:
                failures += 1
                _LOGGER.warning("fleet sync failed (%d in a row): %s", failures, exc)
            wait = min(self.settings.max_backoff_s, self.settings.sync_interval_s * 2 ** min(failures, 20))
            sleep(wait * random.uniform(0.9, 1.1))
