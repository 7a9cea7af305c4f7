"""Alembic migrations (the engines come from :mod:`engine.backends`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.backends.abc import Backend, redact
from engine.domain.errors import StoreError
from engine.domain.i18n import _

if TYPE_CHECKING:  # Alembic is imported only to migrate: a read command does not load it
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The newest revision in engine/migrations/versions; tests/unit/test_packaging.py checks it
# against Alembic's head, so a new migration must update it.
HEAD_REVISION = "0008"


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


def migrate(engine: Engine, backend: Backend) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""
    try:
        if current_revision(engine) == HEAD_REVISION:
            return
        from alembic import command

        config = alembic_config()
        with engine.begin() as connection:
            backend.migration_lock(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        log.info("database migrated to %s", head_revision())
    except SQLAlchemyError as exc:
        raise StoreError(
            _("cannot migrate database {url}: {reason}").format(
                url=redact(str(engine.url)), reason=exc
            )
        ) from exc
