"""``kiosk fleet``: the central server (serve, users, enrolment, publishing, reports) and a kiosk's membership.

Server commands take ``--database-url`` (or ``$KIOSK_FLEET_DATABASE_URL``, which keeps the password off
the process list). Kiosk commands (``join``, ``sync``, ``status``) work on the kiosk home.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from core.errors import KioskError, SettingsError
from kiosk.admin_cli import GRACEFUL_SHUTDOWN_S, is_loopback
from kiosk.context import AppContext, pass_app

if TYPE_CHECKING:
    from fleet.store import FleetStore

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 8090
DATABASE_ENV = "KIOSK_FLEET_DATABASE_URL"

DATABASE_OPTION = click.option(
    "--database-url",
    envvar=DATABASE_ENV,
    required=True,
    metavar="URL",
    help=f"PostgreSQL URL postgresql://USER:PASSWORD@HOST:PORT/DB (or ${DATABASE_ENV}).",
)


@contextmanager
def _store(url: str, **kwargs: Any) -> Iterator[FleetStore]:
    from fleet.store import FleetStore

    store = FleetStore(url, min_size=1, max_size=2, **kwargs)
    try:
        yield store
    finally:
        store.close()


def _parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time like 2025-01-31 or 2025-01-31T10:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group()
def fleet() -> None:
    """A central server for many kiosks, and this kiosk's membership of one."""


# ---------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------
@fleet.command("serve")
@DATABASE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), default=None, help="TLS certificate (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), default=None, help="Its private key (PEM).")
@click.option("--insecure-lan", is_flag=True, help="Allow a non-loopback --host without TLS (credentials in clear).")
@click.option(
    "--retention-days",
    type=click.IntRange(0, 36500),
    default=90,
    show_default=True,
    envvar="KIOSK_FLEET_RETENTION_DAYS",
    help="Delete turns older than this, checked every hour (0: keep them for ever).",
)
@click.option(
    "--alert-after-minutes",
    type=click.FloatRange(1, 7 * 24 * 60),
    default=15.0,
    show_default=True,
    help="A kiosk not heard from for this long raises an alert (cleared when it is back).",
)
@click.option("--webhook", "webhook_url", default="", metavar="URL", help="POST each new alert as JSON to URL.")
def serve(
    database_url: str,
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    insecure_lan: bool,
    retention_days: int,
    alert_after_minutes: float,
    webhook_url: str,
) -> None:
    """Serve the kiosks' API and the fleet pages, purge old turns and watch for silent kiosks. Stateless: run
    several against one database."""
    if bool(tls_cert) != bool(tls_key):
        raise SettingsError("--tls-cert and --tls-key go together", hint="give both, or neither for HTTP")
    if not tls_cert and not is_loopback(host) and not insecure_lan:
        raise KioskError(
            f"refusing to serve the fleet on {host} without TLS: kiosk credentials and passwords would cross "
            "the network in clear text",
            code="fleet-insecure",
            hint="give --tls-cert and --tls-key, listen on 127.0.0.1 behind a TLS proxy, or pass --insecure-lan",
        )
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{webhook_url!r} is not an http(s) URL", param_hint="--webhook")
    from datetime import timedelta

    import uvicorn

    from fleet.maintenance import FleetUpkeep, UpkeepPolicy
    from fleet.server import create_app
    from fleet.store import FleetStore

    store = FleetStore(database_url, min_size=2, max_size=10)
    policy = UpkeepPolicy(
        retention_days=retention_days, silent_after=timedelta(minutes=alert_after_minutes), webhook_url=webhook_url
    )
    app = create_app(store, close_store=True, secure_cookies=bool(tls_cert), upkeep=FleetUpkeep(store, policy))
    scheme = "https" if tls_cert else "http"
    click.echo(f"Fleet server on {scheme}://{host}:{port}/ (Ctrl+C stops it)", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


@fleet.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "editor", "viewer"]), required=True)
@click.option("--site", default=None, help="Limit the user to one site (default: every site).")
@DATABASE_OPTION
def create_user(name: str, role: str, site: str | None, database_url: str) -> None:
    """Create a fleet operator; the password comes from a prompt, or stdin when piped."""
    from kiosk.admin_cli import _read_password

    password = _read_password(f"Password for {name}")
    from fleet.users import FleetUsers

    with _store(database_url) as store:
        user = FleetUsers(store).create(name, password, role, site=site)
    click.echo(f"created {user.role} {user.name} ({user.site or 'all sites'})")


@fleet.command("enrol-code")
@click.option("--site", required=True, help="The site the kiosk joins (created on first use).")
@click.option("--hours", type=click.FloatRange(0.05, 24 * 30), default=24.0, show_default=True, help="Valid for.")
@DATABASE_OPTION
def enrol_code(site: str, hours: float, database_url: str) -> None:
    """Make a one-time enrolment code for one kiosk of SITE (printed as the last line)."""
    from datetime import timedelta

    with _store(database_url) as store:
        code = store.create_enrolment_code(site, ttl=timedelta(hours=hours))
    click.echo(f"one kiosk of site {site} can join with this code within {hours:g} h:", err=True)
    click.echo(code)


@fleet.command("kiosks")
@click.option("--site", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@DATABASE_OPTION
def kiosks(site: str | None, as_json: bool, database_url: str) -> None:
    """Every kiosk: site, state, knowledge versions (with --json: settings and avatar versions too), last seen."""
    with _store(database_url) as store:
        rows = store.kiosks(site)
    for row in rows:
        state = "revoked" if row["revoked"] else row["state"]
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": row["id"],
                        "site": row["site"],
                        "state": state,
                        "kb_version": row["kb_versions"],
                        "settings_version": row["settings_version"],
                        "avatar_versions": row["avatar_versions"],
                        "last_seen": row["last_seen"],
                        "software_version": row["software_version"],
                        "last_error": row["last_error"],
                    }
                )
            )
        else:
            versions = ", ".join(f"{k} v{v}" for k, v in sorted(row["kb_versions"].items())) or "-"
            click.echo(f"{row['id']:<28} {row['site']:<16} {state:<10} {versions:<20} {row['last_seen'] or 'never'}")


@fleet.command("turns")
@click.option("--since", default=None, help="Only turns at or after this time (ISO 8601, UTC if no zone).")
@click.option("--site", default=None)
@click.option("--kiosk", "kiosk_id", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@DATABASE_OPTION
def turns(since: str | None, site: str | None, kiosk_id: str | None, as_json: bool, database_url: str) -> None:
    """Conversations from every kiosk (as the kiosks redacted them), oldest first."""
    moment = _parse_since(since) if since else None
    with _store(database_url) as store:
        for row in store.iter_turns(since=moment, site=site, kiosk=kiosk_id):
            _echo_turn(row, as_json)


def _echo_turn(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        keys = ("kiosk", "ts", "text", "answer", "mode", "faq_id")
        click.echo(json.dumps({k: row[k] for k in keys}, ensure_ascii=False))
    else:
        click.echo(f"{row['ts']} {row['kiosk']} [{row['mode']}] {row['text']} -> {row['answer'][:80]}")


@fleet.command("revoke")
@click.argument("kiosk_id")
@DATABASE_OPTION
def revoke(kiosk_id: str, database_url: str) -> None:
    """Revoke a kiosk's credential: its next request is refused (401)."""
    with _store(database_url) as store:
        store.revoke(kiosk_id)
    click.echo(f"revoked {kiosk_id}")


# ---------------------------------------------------------------------------
# kiosk side
# ---------------------------------------------------------------------------
def _agent(app: AppContext):
    from fleet.agent import FleetAgent

    return FleetAgent(app.home, app.settings.fleet)


def start_background_sync(home, settings, stop: threading.Event | None = None) -> threading.Thread | None:
    """A kiosk that joined a fleet syncs on its own while it runs (``fleet.sync_interval_s``, back-off while the
    server is away); a stand-alone kiosk does nothing. The kiosk never waits on it: it answers from its own
    SQLite whatever the network does."""
    from fleet.agent import FleetAgent
    from fleet.local import load_credential

    try:
        if load_credential(home.root) is None:
            return None
    except KioskError as exc:
        _LOGGER.warning("fleet sync not started: %s", exc)
        return None
    agent = FleetAgent(home, settings)
    stop = stop or threading.Event()

    def loop() -> None:
        try:
            agent.run_forever(stop=stop.is_set, sleep=stop.wait)
        except KioskError as exc:  # the credential was revoked: the kiosk goes on alone
            _LOGGER.error("fleet sync stopped: %s", exc)
        except Exception:
            _LOGGER.exception("fleet sync stopped")

    thread = threading.Thread(target=loop, name="fleet-sync", daemon=True)
    thread.start()
    _LOGGER.info("fleet sync every %.0f s in the background", settings.sync_interval_s)
    return thread


@fleet.command("join")
@click.argument("url")
@click.argument("code")
@pass_app
def join(app: AppContext, url: str, code: str) -> None:
    """Join the fleet server at URL with a one-time CODE (from `kiosk fleet enrol-code`)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        click.echo(
            f"kiosk: warning: {url} is plain HTTP: this kiosk's credential crosses the network readable", err=True
        )
    credential = _agent(app).join(url, code)
    click.echo(f"joined {credential.server} as {credential.kiosk_id} (site {credential.site})")


@fleet.command("sync")
@click.option("--json", "as_json", is_flag=True)
@click.option("--forever", is_flag=True, help="Keep syncing every fleet.sync_interval_s (back-off while offline).")
@pass_app
def sync(app: AppContext, as_json: bool, forever: bool) -> None:
    """Sync now: heartbeat, pull the published knowledge, push the turns not yet shipped."""
    agent = _agent(app)
    if forever:
        agent.run_forever()
        return
    report = agent.sync()
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        pulled = [f"{k} v{v} ({report.documents.get(k, 0)} documents)" for k, v in report.applied.items()]
        pulled += [f"avatar {k} v{v}" for k, v in report.avatars.items()]
        if report.settings:
            pulled.append(f"settings v{report.settings} (used from the next start)")
        click.echo(
            f"pulled: {', '.join(pulled) or 'nothing new'}; pushed {report.pushed} turns ({report.pending} waiting)"
        )
        for error in report.errors:
            click.echo(f"problem: {error}", err=True)
    if not report.ok:
        sys.exit(1)


@fleet.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """This kiosk's membership: server, id, site, versions, turns waiting, last sync (no network)."""
    report = _agent(app).status()
    if as_json:
        click.echo(json.dumps(report))
        return
    if not report["joined"]:
        click.echo("not a member of a fleet (`kiosk fleet join URL CODE`)")
        return
    for key, value in report.items():
        click.echo(f"{key:<16} {value}")


def _add_publishing_commands() -> None:
    """The publishing and upkeep commands live in :mod:`kiosk.fleet_publish_cli` (this module stays small)."""
    from kiosk.fleet_publish_cli import COMMANDS

    for command in COMMANDS:
        fleet.add_command(command)


_add_publishing_commands()
