"""The ``kiosk`` command line: one entry point for the visitor app, operators and tests.

Heavy libraries are imported inside the commands that need them, so
``kiosk --help`` and ``kiosk config show`` start in a fraction of a second.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from core.errors import KioskError, ModelError
from core.home import HOME_ENV, KioskHome
from core.logs import configure_logging
from core.memory import limit_malloc_arenas
from core.settings import to_dict, to_toml
from kiosk.admin_cli import admin
from kiosk.avatar_cli import avatar, avatars, render
from kiosk.backup_cli import backup, restore
from kiosk.context import AppContext, pass_app
from kiosk.fleet_cli import fleet, start_background_sync
from kiosk.knowledge_cli import ask, eval_group, kb
from kiosk.voice_cli import devices, listen, simulate

_LOGGER = logging.getLogger(__name__)

EXIT_ERROR = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE


class KioskGroup(click.Group):
    """Turns every :class:`KioskError` into one clear line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KioskError as exc:
            _LOGGER.debug("command failed", exc_info=True)
            click.echo(f"kiosk: error [{exc.code}]: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            _LOGGER.exception("unexpected error")
            if ctx.obj is not None and ctx.obj.verbose:
                raise
            click.echo(
                f"kiosk: internal error: {type(exc).__name__}: {exc} (details in the log; -v shows them)", err=True
            )
            sys.exit(EXIT_INTERNAL)


@click.group(cls=KioskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=HOME_ENV,
    help=f"Kiosk home directory holding all state (default: ${HOME_ENV}, else the user data dir).",
)
@click.option("-v", "--verbose", count=True, help="More log output on the console (-vv for debug).")
@click.version_option(package_name="kiosk-avatar")
@click.pass_context
def main(ctx: click.Context, home: Path | None, verbose: int) -> None:
    """Offline conversational avatar for public kiosks."""
    limit_malloc_arenas()  # before the first worker thread: flat memory over days (core/memory.py)
    kiosk_home = KioskHome.resolve(home)
    ctx.obj = AppContext(home=kiosk_home, verbose=verbose)
    console_level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logs_dir: Path | None = kiosk_home.logs_dir
    try:
        kiosk_home.ensure()
    except KioskError as exc:
        if not kiosk_home.root.is_dir() and ctx.invoked_subcommand != "doctor" and not _wants_help():
            raise  # home-unavailable: nothing can be kept anywhere (doctor reports it)
        click.echo(f"kiosk: warning: {exc}", err=True)
        logs_dir = None
    file_level, max_bytes, backups = logging.INFO, 5_000_000, 5
    try:
        log_settings = ctx.obj.settings.logging
        file_level, max_bytes, backups = log_settings.level, log_settings.max_bytes, log_settings.backups
    except KioskError:
        pass  # reported by the command that needs settings
    configure_logging(
        logs_dir=logs_dir, console_level=console_level, file_level=file_level, max_bytes=max_bytes, backups=backups
    )
    _LOGGER.debug("kiosk home %s", kiosk_home.root)


def _wants_help() -> bool:
    return any(arg in ("-h", "--help") for arg in sys.argv[1:])


# ---------------------------------------------------------------------------
# doctor
# ---------------------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def doctor(app: AppContext, as_json: bool) -> None:
    """Check models, audio, display and packages; exit 1 when something is missing."""
    from kiosk.doctor import render_table, run_checks

    settings, error = None, None
    try:
        settings = app.settings
    except KioskError as exc:
        error = exc
    report = run_checks(app.home, settings, error)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_table(report))
    sys.exit(0 if report["ok"] else 1)


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
@main.command("run")
@click.option("--windowed", is_flag=True, help="A normal window instead of the locked-down full screen.")
@click.option("--kb", "kb_name", default=None, help="Knowledge base (default: dialog.knowledge_base).")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), help="Save a PNG of the window.")
@click.option("--quit-after", type=float, default=None, help="Quit after this many seconds (with --screenshot: then).")
@click.option("--ask", "ask_text", default=None, help="Ask this question once the kiosk is ready (for demos).")
@click.option("--no-audio", is_flag=True, help="Touch only: no microphone (answers are still spoken).")
@pass_app
def run_command(
    app: AppContext,
    windowed: bool,
    kb_name: str | None,
    screenshot: Path | None,
    quit_after: float | None,
    ask_text: str | None,
    no_audio: bool,
) -> None:
    """Start the kiosk (full screen unless --windowed or kiosk.fullscreen = false)."""
    from core.errors import DisplayError
    from kiosk.doctor import check_display

    display = check_display()
    if not display["available"]:
        raise DisplayError(
            "no screen to show the kiosk on (DISPLAY and WAYLAND_DISPLAY are not set)",
            hint="on a kiosk PC start it from the desktop session or the cage compositor; "
            "on a server try `xvfb-run -a .venv/bin/kiosk run --windowed`, or check it with `kiosk doctor`",
        )
    if screenshot is not None and quit_after is None:
        quit_after = 8.0
    services = app.services
    name = services.kb_name(kb_name)
    title = services.store.kb_title(name)
    from core.backup import start_daily_backups
    from kiosk.window.launcher import run_app

    start_daily_backups(app.home.database)  # now if the newest daily backup is a day old, then hourly checks
    start_background_sync(app.home, app.settings.fleet)  # only a kiosk that joined a fleet

    sys.exit(
        run_app(
            services=services,
            kb=name,
            title=title,
            windowed=windowed,
            screenshot=screenshot,
            quit_after=quit_after,
            ask=ask_text,
            home_root=app.home.root,
            audio=not no_audio,
        )
    )


# ---------------------------------------------------------------------------
# say
# ---------------------------------------------------------------------------
@main.command("say")
@click.argument("text")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="WAV file to write.")
@click.option("--timings", type=click.Path(dir_okay=False, path_type=Path), help="JSON file of phoneme timings.")
@pass_app
def say(app: AppContext, text: str, out: Path, timings: Path | None) -> None:
    """Synthesize TEXT with the kiosk's voice into a WAV file (and its phoneme timings)."""
    import numpy as np

    from devices.wav import write_wav

    if not text.strip():
        raise KioskError("nothing to say: TEXT is empty", code="tts-empty-text")
    chunks = list(app.services.tts.synthesize(text))
    rate = chunks[0].sample_rate
    samples = np.concatenate([c.samples for c in chunks])
    write_wav(out, samples, rate)
    if timings is not None:
        sentences, offset = [], 0.0
        for chunk in chunks:
            sentences.append(
                {
                    "text": chunk.text,
                    "start": round(offset, 4),
                    "end": round(offset + chunk.duration, 4),
                    "phonemes": [
                        {"phoneme": p.phoneme, "start": round(offset + p.start, 4), "end": round(offset + p.end, 4)}
                        for p in chunk.phonemes
                    ],
                }
            )
            offset += chunk.duration
        timings.write_text(
            json.dumps({"sample_rate": rate, "duration": round(offset, 4), "sentences": sentences}, ensure_ascii=False),
            encoding="utf-8",
        )
    click.echo(f"wrote {out} ({len(samples) / rate:.2f} s at {rate} Hz)")


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
@main.group()
def models() -> None:
    """List models per role, or download upstream models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@pass_app
def models_list(app: AppContext, as_json: bool) -> None:
    """Where each model role is resolved from."""
    from core.models import DOWNLOADS, ModelManager

    resolved = ModelManager(settings=app.settings, home=app.home).resolve_all()
    if as_json:
        click.echo(json.dumps({role: loc.to_dict() for role, loc in resolved.items()}, indent=2))
        return
    for role, loc in resolved.items():
        status = "found" if loc.found else ("missing" if loc.required else "optional")
        click.echo(f"{role:<17} {status:<8} {loc.source:<8} {loc.path or loc.detail}")
    click.echo("\ndownloadable (kiosk models pull NAME): " + ", ".join(DOWNLOADS))


@models.command("pull")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Download even if already installed.")
@pass_app
def models_pull(app: AppContext, name: str | None, force: bool) -> None:
    """Download NAME (vosk-en, tts, llm, embeddings) into $KIOSK_HOME/models.

    Without NAME, downloads every model whose role is not found yet.
    """
    from core.download import install
    from core.models import DOWNLOADS, PULL_ALIASES, ModelManager

    manager = ModelManager(settings=app.settings, home=app.home)
    if name is None:
        wanted = [d for d in DOWNLOADS.values() if not manager.resolve(d.role).found]
        if not wanted:
            click.echo("every model role is already available; nothing to download")
            return
    else:
        key = PULL_ALIASES.get(name, name)
        if key not in DOWNLOADS:
            raise ModelError(
                f"nothing to download for {name!r}",
                code="model-unknown",
                hint=f"downloadable: {', '.join(DOWNLOADS)}; pocketsphinx, wake and avatar models ship with the install",
            )
        wanted = [DOWNLOADS[key]]

    for download in wanted:
        current = manager.resolve(download.role)
        if current.found and current.source in ("package", "settings") and not force:
            click.echo(
                f"{download.name}: already available from {current.source} ({current.path}); use --force to download anyway"
            )
            continue
        click.echo(f"{download.name}: downloading into {app.home.models_dir / download.target}")
        with _ProgressBar() as bar:
            path = install(download, app.home.models_dir, progress=bar.update, force=force)
        click.echo(f"{download.name}: installed at {path}")


class _ProgressBar:
    """click progress bar per file, driven by :func:`core.download.install`."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._url: str | None = None
        self._done = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def update(self, url: str, done: int, total: int | None) -> None:
        if url != self._url:
            if self._bar is not None:
                self._bar.__exit__(None, None, None)
            self._bar = click.progressbar(length=total or 0, label=url.rsplit("/", 1)[-1], file=sys.stderr)
            self._bar.__enter__()
            self._url, self._done = url, 0
        self._bar.update(done - self._done)
        self._done = done


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------
@main.group()
def config() -> None:
    """Show the effective settings or where they live."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML.")
@click.option("--no-docs", is_flag=True, help="Leave out the documentation comments.")
@pass_app
def config_show(app: AppContext, as_json: bool, no_docs: bool) -> None:
    """Print the effective settings (defaults + settings.toml + KIOSK_* environment)."""
    if as_json:
        click.echo(json.dumps(to_dict(app.settings), indent=2))
    else:
        click.echo(to_toml(app.settings, docs=not no_docs), nl=False)


@config.command("path")
@pass_app
def config_path(app: AppContext) -> None:
    """Print the settings file's path."""
    click.echo(str(app.home.settings_file))


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing settings file.")
@pass_app
def config_init(app: AppContext, force: bool) -> None:
    """Write a documented settings file with the current effective values."""
    path = app.home.settings_file
    if path.exists() and not force:
        raise KioskError(f"{path} already exists", code="settings-exists", hint="use --force to overwrite it")
    text = to_toml(app.settings, docs=True, reveal_secrets=True)
    path.write_text(text, encoding="utf-8")
    click.echo(str(path))


main.add_command(kb)
main.add_command(ask)
main.add_command(eval_group)
main.add_command(devices)
main.add_command(listen)
main.add_command(simulate)
main.add_command(admin)
main.add_command(render)
main.add_command(avatars)
main.add_command(avatar)
main.add_command(backup)
main.add_command(restore)
main.add_command(fleet)


def run() -> None:  # pragma: no cover - console script shim
    main()


if __name__ == "__main__":  # pragma: no cover
    main()
