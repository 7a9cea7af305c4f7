"""Alembic migrations (the engines come from :mod:`engine.backends`)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.backends.abc import Backend, redact
from engine.domain.errors import StoreError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate(engine: Engine, backend: Backend) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""
    try:
        if current_revision(engine) == head_revision():
            return
        config = alembic_config()
        with engine.begin() as connection:
            backend.migration_lock(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        log.info("database migrated to %s", head_revision())
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate database {redact(str(engine.url))}: {exc}") from exc
