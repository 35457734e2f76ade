"""``kiosk backup`` and ``kiosk restore``: the database's backups from the shell (the work is in ``core.backup``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from core.backup import create_backup, list_backups, restore_database
from kiosk.context import AppContext, pass_app

_LOGGER = logging.getLogger(__name__)

RESTART_NOTE = "restart the kiosk and the admin app (e.g. `systemctl restart kiosk-avatar`) so that they read the restored database"


@click.command("backup")
@click.option("--list", "list_only", is_flag=True, help="List the backups instead of making one.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def backup(app: AppContext, list_only: bool, as_json: bool) -> None:
    """Back up kiosk.db now into $KIOSK_HOME/backups and print the file's path (--list: the backups, newest first)."""
    if list_only:
        backups = list_backups(app.home.backups_dir)
        if as_json:
            click.echo(json.dumps([b.to_dict() for b in backups], indent=2))
        elif not backups:
            click.echo(f"no backups in {app.home.backups_dir}", err=True)
        for b in [] if as_json else backups:
            click.echo(f"{b.created:%Y-%m-%d %H:%M:%S}Z  {b.reason:<13} {b.size / 1e6:7.2f} MB  {b.path}")
        return
    made = create_backup(app.home.database, "manual")
    click.echo(json.dumps(made.to_dict()) if as_json else str(made.path))


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def restore(app: AppContext, file: Path, as_json: bool) -> None:
    """Replace kiosk.db with FILE (a backup), after checking it and backing up the current database.

    Refused while a kiosk or admin app has the database open: stop them first.
    """
    report = restore_database(app.home.database, file)
    safety = report.safety_copy
    if as_json:
        click.echo(
            json.dumps(
                {
                    "database": str(report.database),
                    "restored_from": str(report.source),
                    "schema_version": report.schema_version,
                    "faq_count": report.faq_count,
                    "previous_saved_as": str(safety.path) if safety else None,
                }
            )
        )
    else:
        click.echo(f"restored {report.database} from {report.source} ({report.faq_count} FAQs)")
        if safety is not None:
            click.echo(f"the previous database was saved as {safety.path}")
    click.echo(f"kiosk: note: {RESTART_NOTE}", err=True)
