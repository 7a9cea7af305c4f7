"""CLI: ``fbh backup --out FILE`` (a consistent copy of the SQLite database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import checked_path, say, state
from engine.cli.i18n import _
from engine.store.backup import backup_sqlite


def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The backup file to write (must be new).")],
) -> None:
    """Copy the SQLite database while fbh serve runs (PostgreSQL: use pg_dump)."""
    report = backup_sqlite(state(ctx).settings.database_url, checked_path(out, "--out"))
    text = _("backup of {source} written to {out} ({bytes} bytes)")
    say(text.format(source=report.source, out=report.out, bytes=report.bytes))
