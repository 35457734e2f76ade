"""``kiosk fleet`` publishing commands: knowledge (with documents), settings, avatar packs, roll-back, versions,
and the server's upkeep reports (alerts, retention).

Each publishes the next version for one site (``--site S``), one group of sites (``--group G``, made with
``kiosk fleet group``) or every site (``--all``); a kiosk of the target applies it at its next sync. Bad input
is refused before anything is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kiosk.fleet_cli import DATABASE_OPTION, _store

SITE_OPTION = click.option("--site", default=None, help="Publish for this site only.")
GROUP_OPTION = click.option("--group", default=None, help="Publish for the sites of this group (kiosk fleet group).")
ALL_OPTION = click.option("--all", "all_sites", is_flag=True, help="Publish for every site.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _target(site: str | None, group: str | None, all_sites: bool) -> tuple[str | None, str | None]:
    if [site is not None, group is not None, all_sites].count(True) != 1:
        raise click.UsageError("give exactly one of --site S, --group G or --all")
    return site, group


def _label(site: str | None, group: str | None) -> str:
    from fleet.groups import target_label

    return "every site" if site is None and group is None else target_label(site, group)


def _report(report: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(report) if as_json else text)


def _documents(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    """``--document FILE`` as ``kiosk kb add-document`` reads it: id from the file name, title from it too."""
    from knowledge.entries import slugify
    from knowledge.io import decode

    docs = []
    for path in paths:
        body = decode(path.read_bytes(), path.name)
        docs.append({"id": slugify(path.stem), "title": path.stem.replace("-", " "), "body": body, "language": "en"})
    return docs


@click.command("publish")
@click.argument("kb_name")
@click.option("--from", "source", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="CSV/JSONL/MD.")
@click.option(
    "--document",
    "document_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A Markdown or text document the kiosks answer from (repeatable): the version's documents are exactly "
    "these. Without --document the documents of the last version are kept.",
)
@click.option("--no-documents", is_flag=True, help="Publish without any documents (removes them on the kiosks).")
@SITE_OPTION
@GROUP_OPTION
@ALL_OPTION
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "md"]), default=None)
@click.option("--title", default="", help="Title of the knowledge base (default: its name).")
@JSON_OPTION
@DATABASE_OPTION
def publish(
    kb_name: str,
    source: Path | None,
    document_files: tuple[Path, ...],
    no_documents: bool,
    site: str | None,
    group: str | None,
    all_sites: bool,
    fmt: str | None,
    title: str,
    as_json: bool,
    database_url: str,
) -> None:
    """Publish FILE (and documents) as the next version of KB_NAME: kiosks of the target answer from it after
    their next sync."""
    from knowledge.io import parse_file
    from knowledge.store import check_kb_name

    site, group = _target(site, group, all_sites)
    if source is None and not document_files:
        raise click.UsageError("give --from FILE (entries), --document FILE, or both")
    if no_documents and document_files:
        raise click.UsageError("--no-documents and --document exclude each other")
    check_kb_name(kb_name)
    entries: list[dict[str, Any]] = []
    if source is not None:
        result = parse_file(source, fmt)
        for problem in result.problems:
            click.echo(f"{source.name}: {problem}", err=True)
        result.raise_for_problems(source.name)
        entries = [entry.content() for entry in result.entries]
    documents = _documents(document_files) if document_files else ([] if no_documents else None)
    names = ", ".join(p.name for p in ((source,) if source else ()) + document_files)
    with _store(database_url) as store:
        version = store.publish(
            kb_name, entries, documents=documents, site=site, group=group, title=title, source=names
        )
        (row,) = [v for v in store.versions(kb_name) if v["version"] == version]
    report = {
        "kb": kb_name,
        "version": version,
        "site": site,
        "group": group,
        "entries": len(entries),
        "documents": row["document_count"],
        "sha256": row["sha256"],
    }
    text = (
        f"published {kb_name} version {version} ({len(entries)} entries, {row['document_count']} documents) "
        f"for {_label(site, group)}"
    )
    _report(report, as_json, text)


@click.command("publish-settings")
@click.option("--from", "source", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True)
@SITE_OPTION
@GROUP_OPTION
@ALL_OPTION
@JSON_OPTION
@DATABASE_OPTION
def publish_settings(
    source: Path, site: str | None, group: str | None, all_sites: bool, as_json: bool, database_url: str
) -> None:
    """Publish a settings TOML file (only centrally shared keys: dialog, avatar, voice, visitor texts...)
    as the next settings version. Kiosks use it from their next start; it wins over their settings.toml."""
    from fleet.central_settings import parse_central, settings_digest

    site, group = _target(site, group, all_sites)
    values = parse_central(source.read_bytes(), source.name)
    with _store(database_url) as store:
        version = store.publish_settings(values, site=site, group=group, source=source.name)
    keys = sum(len(body) for body in values.values())
    report = {
        "settings_version": version,
        "site": site,
        "group": group,
        "keys": keys,
        "sha256": settings_digest(values),
    }
    _report(report, as_json, f"published settings version {version} ({keys} keys) for {_label(site, group)}")


@click.command("publish-avatar")
@click.argument("name")
@click.option("--from", "pack_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True)
@SITE_OPTION
@GROUP_OPTION
@ALL_OPTION
@JSON_OPTION
@DATABASE_OPTION
def publish_avatar(
    name: str, pack_dir: Path, site: str | None, group: str | None, all_sites: bool, as_json: bool, database_url: str
) -> None:
    """Publish the avatar pack folder PACK_DIR as the next version of pack NAME (kiosks install it as
    $KIOSK_HOME/avatars/NAME; set [avatar] name with publish-settings to show it)."""
    from fleet.packs import archive_digest, make_archive

    site, group = _target(site, group, all_sites)
    archive = make_archive(name, pack_dir)
    with _store(database_url) as store:
        version = store.publish_avatar(name, archive, site=site, group=group, source=pack_dir.name)
    report = {
        "avatar": name,
        "version": version,
        "site": site,
        "group": group,
        "size": len(archive),
        "sha256": archive_digest(archive),
    }
    text = f"published avatar {name} version {version} ({len(archive)} bytes) for {_label(site, group)}"
    _report(report, as_json, text)


@click.command("rollback")
@click.argument("name", required=False)
@click.option("--to", "to_version", type=click.IntRange(1), required=True, help="The earlier version to go back to.")
@click.option("--settings", "is_settings", is_flag=True, help="Roll back the settings (no NAME).")
@click.option("--avatar", "is_avatar", is_flag=True, help="NAME is an avatar pack (default: a knowledge base).")
@SITE_OPTION
@GROUP_OPTION
@ALL_OPTION
@JSON_OPTION
@DATABASE_OPTION
def rollback(
    name: str | None,
    to_version: int,
    is_settings: bool,
    is_avatar: bool,
    site: str | None,
    group: str | None,
    all_sites: bool,
    as_json: bool,
    database_url: str,
) -> None:
    """Publish an earlier version's content again as the newest (kiosks move forward to it): knowledge base NAME,
    avatar pack NAME (--avatar) or the settings (--settings)."""
    site, group = _target(site, group, all_sites)
    if is_settings and is_avatar:
        raise click.UsageError("--settings and --avatar exclude each other")
    if is_settings == (name is not None):
        raise click.UsageError("give NAME (a knowledge base, or a pack with --avatar), or --settings without NAME")
    kind = "settings" if is_settings else "avatar" if is_avatar else "kb"
    with _store(database_url) as store:
        version = store.rollback(kind, name or "", to_version, site=site, group=group)
    label = "settings" if is_settings else name
    report = {"kind": kind, "name": name, "version": version, "rollback_of": to_version, "site": site, "group": group}
    _report(report, as_json, f"{label} version {version} = version {to_version}, for {_label(site, group)}")


@click.command("versions")
@JSON_OPTION
@DATABASE_OPTION
def versions(as_json: bool, database_url: str) -> None:
    """Everything published, newest first: knowledge bases, settings, avatar packs."""
    with _store(database_url) as store:
        rows = [{"kind": "kb", "name": r["kb"], **_short(r)} for r in store.versions()]
        rows += [{"kind": "settings", "name": "", **_short(r)} for r in store.settings_versions()]
        rows += [{"kind": "avatar", "name": r["name"], **_short(r)} for r in store.avatar_versions()]
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            back = f" (= v{row['rollback_of']})" if row["rollback_of"] else ""
            click.echo(
                f"{row['kind']:<9} {row['name']:<16} v{row['version']:<4} {_for(row):<14} "
                f"{row['published_at']} {row['source']}{back}"
            )


def _for(row: dict[str, Any]) -> str:
    return row["site"] or (f"group {row['group']}" if row["group"] else "all")


def _short(row: dict[str, Any]) -> dict[str, Any]:
    row = {**row, "group": row.get("site_group")}
    keys = ("version", "site", "group", "sha256", "source", "rollback_of", "published_by", "published_at")
    return {k: row.get(k) for k in keys}


@click.command("group")
@click.argument("name", required=False)
@click.option(
    "--sites", default=None, metavar="A,B,...", help="Create the group with these sites, or replace its sites."
)
@JSON_OPTION
@DATABASE_OPTION
def group(name: str | None, sites: str | None, as_json: bool, database_url: str) -> None:
    """Create or replace group NAME of sites (--sites A,B,...), for `--group NAME` when publishing; without
    --sites, show it; without NAME, list every group. A kiosk runs the newest version published for its site,
    for any group of its site, or for all."""
    with _store(database_url) as store:
        if sites is not None:
            if name is None:
                raise click.UsageError("give the group's NAME with --sites")
            members = store.set_group(name, sites.split(","))
            _report({"group": name, "sites": members}, as_json, f"group {name}: {', '.join(members)}")
            return
        rows = store.groups()
    if name is not None:
        rows = [r for r in rows if r["name"] == name]
        if not rows:
            from fleet.errors import FleetInputError

            raise FleetInputError(f"no group named {name!r}", code="fleet-group-unknown", hint="add --sites A,B")
    for row in rows:
        if as_json:
            click.echo(json.dumps({"group": row["name"], "sites": row["sites"], "updated_by": row["updated_by"],
                                   "updated_at": row["updated_at"]}))  # fmt: skip
        else:
            click.echo(f"{row['name']:<20} {', '.join(row['sites'])}")


@click.command("alerts")
@click.option("--all", "show_all", is_flag=True, help="Cleared alerts too (default: open ones).")
@click.option("--site", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@DATABASE_OPTION
def alerts(show_all: bool, site: str | None, as_json: bool, database_url: str) -> None:
    """Kiosks that went silent (raised by `kiosk fleet serve`, cleared when they are back)."""
    with _store(database_url) as store:
        rows = store.alerts(open_only=not show_all, site=site)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
        else:
            state = f"cleared {row['cleared_at']}" if row["cleared_at"] else "OPEN"
            click.echo(
                f"{row['raised_at']} {row['kiosk_id']:<28} {row['site']:<16} silent since {row['last_seen'] or 'never'}"
                f" {state} (webhook: {row['notify_state']})"
            )


@click.command("purge-turns")
@click.option("--retention-days", type=click.IntRange(1, 36500), required=True, help="Keep this many days.")
@DATABASE_OPTION
def purge_turns(retention_days: int, database_url: str) -> None:
    """Delete turns older than --retention-days now (`kiosk fleet serve` does it every hour)."""
    with _store(database_url) as store:
        deleted = store.purge_turns(retention_days, actor="cli")
    click.echo(f"deleted {deleted} turns older than {retention_days} days")


COMMANDS = (publish, publish_settings, publish_avatar, rollback, versions, group, alerts, purge_turns)
