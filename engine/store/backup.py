"""``fbh backup``: a consistent copy of the SQLite database, taken while ``fbh serve`` runs.

SQLite's online backup API (``sqlite3.Connection.backup``) copies every page in one step
under a read transaction: in WAL mode the daemon's writers are not blocked, and the copy is
the database as of one commit. The copy is written next to ``--out`` under a temporary name,
checked with ``PRAGMA integrity_check``, flushed to disk and only then renamed, so a failed
backup leaves nothing behind. PostgreSQL is backed up with ``pg_dump`` (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from engine.domain.errors import ConfigError, FbhError, InvalidInputError, StoreError
from engine.domain.i18n import _

BUSY_SECONDS = 30.0


class BackupUnsupportedError(FbhError):
    """The database is not one ``fbh backup`` copies (PostgreSQL: use pg_dump)."""


@dataclass(frozen=True)
class BackupReport:
    source: Path
    out: Path
    bytes: int


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite:///…`` URL; refuses other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupUnsupportedError(
            _(
                "fbh backup copies SQLite databases only; back up {backend} "
                "with pg_dump (see docs/operations.md, Backups)"
            ).format(backend=parsed.get_backend_name())
        )
    if not parsed.database or parsed.database == ":memory:":
        raise ConfigError(_("database.url: an in-memory SQLite database cannot be backed up"))
    return Path(parsed.database)


def backup_sqlite(url: str, out: Path) -> BackupReport:
    """Copy the database of ``url`` to ``out`` (which must not exist yet)."""
    source = sqlite_path(url)
    if not source.is_file():
        raise StoreError(_("database {path} not found").format(path=source))
    if out.exists():
        raise InvalidInputError(
            _("--out {out}: the file exists; choose a new name").format(out=out)
        )
    if not out.parent.is_dir():
        raise InvalidInputError(
            _("--out {out}: folder {folder} does not exist").format(out=out, folder=out.parent)
        )
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        _copy(source, partial)
        os.replace(partial, out)
    except sqlite3.Error as exc:
        raise StoreError(
            _("backup of {path} failed: {reason}").format(path=source, reason=exc)
        ) from exc
    except OSError as exc:
        raise InvalidInputError(f"--out {out}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(source=source, out=out, bytes=out.stat().st_size)


def _copy(source: Path, target: Path) -> None:
    reader = sqlite3.connect(source, timeout=BUSY_SECONDS)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)  # all pages in one step: one consistent snapshot
            (verdict,) = writer.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise StoreError(
                    _("the copy of {path} failed its integrity check: {verdict}").format(
                        path=source, verdict=verdict
                    )
                )
        finally:
            writer.close()
    finally:
        reader.close()
    with target.open("rb") as handle:
        os.fsync(handle.fileno())
