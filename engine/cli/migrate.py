"""CLI: ``fbh migrate``, the one command besides ``fbh serve`` that changes the schema."""

from __future__ import annotations

import typer

from engine.cli.common import JsonOption, emit_json, say, state
from engine.cli.i18n import _


def migrate_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the database, or bring its schema to this fbh's version (logged)."""
    from engine.store.database import UPGRADE
    from engine.store.store import Store

    settings = state(ctx).settings
    store = Store.open(settings.database_url, schema=UPGRADE)
    try:
        migration = store.migration
    finally:
        store.dispose()
    assert migration is not None
    if as_json:
        emit_json(
            {
                "database": settings.database_display,
                "before": migration.before,
                "after": migration.after,
                "changed": migration.changed,
            }
        )
        return
    if migration.before is None:
        text = _("created the database {database} at schema revision {after}")
    elif migration.changed:
        text = _("migrated the database {database} from schema revision {before} to {after}")
    else:
        text = _("the database {database} is at schema revision {after} already; nothing to do")
    say(
        text.format(
            database=settings.database_display, before=migration.before, after=migration.after
        )
    )
