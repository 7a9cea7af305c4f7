"""The database schema: Alembic migrations, and the check every command makes before it uses
the database (the engines come from :mod:`engine.backends`).

Who may change the schema (docs/operations.md, "Upgrades"):

* ``fbh migrate`` and ``fbh serve`` (at start) create a database or bring it to the newest
  revision, and log what they did (:data:`UPGRADE`);
* the commands that create data from nothing (``fbh demo``, ``programme create``, ``request
  add``, ``inbox process``) create a database that does not exist yet, and otherwise need it
  current (:data:`CREATE`);
* every other command needs the database to exist at this fbh's revision, and changes nothing
  about it (:data:`REQUIRE`): a read command on a missing database says where it looked
  (exit 2), one on an older schema asks for ``fbh migrate`` and one on a newer schema asks for
  a newer fbh (both exit 3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.backends.abc import Backend, redact
from engine.domain.errors import (
    NoDatabaseError,
    SchemaOutdatedError,
    SchemaTooNewError,
    StoreError,
)
from engine.domain.i18n import _

if TYPE_CHECKING:  # Alembic is imported only to migrate: a read command does not load it
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The newest revision in engine/migrations/versions; tests/unit/test_packaging.py checks it
# against Alembic's head, so a new migration must update it.
HEAD_REVISION = "0012"

SchemaMode = Literal["upgrade", "create", "require", "none"]
UPGRADE: SchemaMode = "upgrade"  # create or upgrade (fbh migrate, fbh serve)
CREATE: SchemaMode = "create"  # create a missing database, else require it current
REQUIRE: SchemaMode = "require"  # exist and be current; change nothing
NONE: SchemaMode = "none"  # no check at all (tools that know what they open)


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` did: the revision before (None: a new database) and after."""

    database: str
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema's revision, read from Alembic's version table without loading Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this fbh's migrations (else a newer fbh wrote it)."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def check_schema(engine: Engine, revision: str | None) -> None:
    """Refuse a database whose schema this fbh cannot use as it is: none yet (exit 2), an
    older one (run ``fbh migrate``, exit 3) or a newer one (upgrade fbh, exit 3)."""
    where = redact(str(engine.url))
    if revision is None:
        raise NoDatabaseError(
            _(
                "the database {database} has no fbh tables yet; create them with 'fbh migrate'"
            ).format(database=where)
        )
    if revision == HEAD_REVISION:
        return
    if not is_known_revision(revision):
        raise SchemaTooNewError(
            _("the database schema is newer than this fbh ({found} > {head}); upgrade fbh").format(
                found=revision, head=HEAD_REVISION
            )
        )
    raise SchemaOutdatedError(
        _(
            "the database schema is older than this fbh ({found} < {head}); run 'fbh migrate' "
            "(or start 'fbh serve', which migrates at start)"
        ).format(found=revision, head=HEAD_REVISION)
    )


def migrate(engine: Engine, backend: Backend) -> Migration:
    """Bring the schema to the newest revision (a no-op when it is there already); refuse a
    schema newer than this fbh. Logs what it did."""
    where = redact(str(engine.url))
    try:
        before = current_revision(engine)
        if before == HEAD_REVISION:
            log.info("database %s is at schema revision %s", where, before)
            return Migration(where, before, HEAD_REVISION)
        if before is not None and not is_known_revision(before):
            check_schema(engine, before)  # raises SchemaTooNewError
        from alembic import command

        config = alembic_config()
        with engine.begin() as connection:
            backend.migration_lock(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        after = current_revision(engine) or HEAD_REVISION
    except SQLAlchemyError as exc:
        raise StoreError(
            _("cannot migrate database {url}: {reason}").format(url=where, reason=exc)
        ) from exc
    if before is None:
        log.info("database %s created at revision %s", where, after)
    else:
        log.info("database %s migrated from revision %s to %s", where, before, after)
    return Migration(where, before, after)
