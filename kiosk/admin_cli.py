"""``kiosk admin``: serve the operators' web app, and manage its accounts from the shell."""

from __future__ import annotations

import ipaddress
import logging
import sys

import click

from admin_web.errors import AdminInsecureError
from core.errors import SettingsError
from kiosk.context import AppContext, pass_app

_LOGGER = logging.getLogger(__name__)


def _read_password(prompt: str) -> str:
    """From a prompt (asked twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _accounts(app: AppContext):
    from admin_web.accounts import Accounts
    from core.db import open_database

    return Accounts(open_database(app.home.database))


GRACEFUL_SHUTDOWN_S = 3  # SIGTERM / Ctrl+C: open requests get this long, then the server stops anyway


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this PC (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


INSECURE_WARNING = (
    "WARNING: the admin app is served WITHOUT TLS on {host}: operators' passwords and session cookies cross "
    "the network in clear text, readable by anyone on it. Set [admin] tls_cert and tls_key instead."
)


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on (default: admin.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: admin.port, 8080).")
@click.option(
    "--insecure-lan",
    is_flag=True,
    help="Allow a non-loopback --host without TLS (passwords travel in clear text; prints a warning).",
)
@click.pass_context
def admin(ctx: click.Context, host: str | None, port: int | None, insecure_lan: bool) -> None:
    """The operators' web app: `kiosk admin` serves it; subcommands manage accounts."""
    if ctx.invoked_subcommand is not None:
        return
    app_ctx: AppContext = ctx.find_object(AppContext)
    settings = app_ctx.settings
    cfg = settings.admin
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise SettingsError(
            "settings: admin.tls_cert and admin.tls_key must be set together", hint="set both, or neither for HTTP"
        )
    bind_host, bind_port = host or cfg.host, port or cfg.port
    if not cfg.tls_cert and not is_loopback(bind_host):
        if not insecure_lan:
            raise AdminInsecureError(
                f"refusing to serve the admin app on {bind_host} without TLS: passwords would cross the network "
                "in clear text",
                hint="set [admin] tls_cert and tls_key, or listen on 127.0.0.1, "
                "or pass --insecure-lan on a network you trust",
            )
        line = "!" * 100
        click.echo(f"{line}\n{INSECURE_WARNING.format(host=bind_host)}\n{line}", err=True)
        _LOGGER.warning(INSECURE_WARNING.format(host=bind_host))
    import uvicorn

    from admin_web.app import create_app

    web = create_app(settings, app_ctx.home)
    accounts = web.state.admin.accounts
    scheme = "https" if cfg.tls_cert else "http"
    if accounts.count_users() == 0:
        click.echo(
            f"No operator account yet: open {scheme}://127.0.0.1:{bind_port}/setup on this PC, "
            "or run `kiosk admin create-user NAME --role admin`.",
            err=True,
        )
    click.echo(f"Kiosk admin on {scheme}://{bind_host}:{bind_port}/ (Ctrl+C stops it)", err=True)
    uvicorn.run(
        web,
        host=bind_host,
        port=bind_port,
        ssl_certfile=cfg.tls_cert or None,
        ssl_keyfile=cfg.tls_key or None,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        limit_concurrency=64,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


@admin.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "editor", "viewer"]), required=True, help="What the user may do.")
@pass_app
def create_user(app: AppContext, name: str, role: str) -> None:
    """Create an operator account; the password comes from a prompt, or stdin when piped."""
    from admin_web.accounts import check_password, check_username

    accounts = _accounts(app)
    check_username(name)
    if accounts.get_user(name) is not None:
        from admin_web.errors import UserExistsError

        raise UserExistsError(f"a user named {name!r} already exists", hint="choose another name")
    password = check_password(_read_password(f"Password for {name}"), name)
    accounts.create_user(name, password, role)
    accounts.audit("user-create", user="(cli)", target=name, detail=f"role {role}")
    click.echo(f"created {role} {name}")


@admin.command("set-password")
@click.argument("name")
@pass_app
def set_password(app: AppContext, name: str) -> None:
    """Change a user's password (signs that user out everywhere)."""
    accounts = _accounts(app)
    accounts.set_password(name, _read_password(f"New password for {name}"))
    accounts.audit("user-password", user="(cli)", target=name)
    click.echo(f"password changed for {name}")


@admin.command("list-users")
@pass_app
def list_users(app: AppContext) -> None:
    """Operator accounts and their roles."""
    for user in _accounts(app).list_users():
        state = " (disabled)" if user.disabled else ""
        click.echo(f"{user.name}\t{user.role}{state}\tlast sign-in: {user.last_login_at or 'never'}")
