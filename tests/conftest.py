"""Fixtures shared by every test folder.

``backend_url`` runs a test once per real database: a SQLite file, and PostgreSQL (a schema
of its own, migrated and emptied for each test: tests/pgschemas.py). Outside CI a PostgreSQL
test skips with the reason when the server cannot
be reached; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fbhtest import copy_of_template, make_settings
from pgschemas import SchemaPool
from tally_report import (  # noqa: F401  (hooks: the reliability tally, xdist-aware)
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)

from engine.config.settings import Settings
from engine.services.facade import Fbh
from engine.store.store import Store

REPO = Path(__file__).resolve().parent.parent

# The CLI speaks Danish unless the locale says English (engine/cli/i18n.py). The suite's own
# assertions are written against the English text; the tests of the Danish CLI set
# LANG=da_DK.UTF-8 for their commands (tests/acceptance/test_cli_language.py).
for _name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "en_US.UTF-8"
PG_ADMIN = os.environ.get("FBH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_postgres() -> None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN}: {exc}".splitlines()[0]
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a new, empty schema (dropped afterwards)."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    host_part = PG_ADMIN.split("://", 1)[1]
    yield f"postgresql+psycopg://{host_part}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest schema revision, migrated once per test process."""
    path = tmp_path_factory.mktemp("template") / "fbh.sqlite3"
    Store.open(f"sqlite:///{path}").dispose()
    assert not path.with_name(path.name + "-wal").exists()  # all in the one file
    return path


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[SchemaPool]:
    """The migrated PostgreSQL schemas of this test process (dropped at its end)."""
    require_postgres()
    pool = SchemaPool(PG_ADMIN)
    yield pool
    pool.close()


@pytest.fixture
def pg_migrated_url(pg_schemas: SchemaPool) -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a schema at the newest revision that only this
    test uses (emptied to what the migrations wrote once it is done: tests/pgschemas.py)."""
    schema = pg_schemas.take()
    yield schema.url(PG_ADMIN)
    pg_schemas.give(schema)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest schema revision: SQLite (a copy of the migrated template, as
    Alembic takes most of a small test's time) or a PostgreSQL schema of the test's own (made
    and migrated once per test process, emptied between tests: tests/pgschemas.py)."""
    if request.param == "sqlite":
        path = tmp_path / "fbh.sqlite3"
        copy_of_template(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("pg_migrated_url"))


@pytest.fixture
def settings(tmp_path: Path, backend_url: str) -> Settings:
    return make_settings(tmp_path, backend_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.open(settings.database_url)
    yield opened
    opened.dispose()


@pytest.fixture
def fbh(settings: Settings, store: Store) -> Fbh:
    from engine.domain.definitions import load_registry

    return Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")


@pytest.fixture
def dovecot() -> Iterator[object]:
    """A private Dovecot IMAP server with one test user (tests/imapserver.py). Outside CI a
    missing ``dovecot`` binary skips the test; under ``CI=true`` it fails."""
    from imapserver import DOVECOT, start_dovecot

    if DOVECOT is None:
        reason = "dovecot is not installed (apt-get install dovecot-imapd)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    server = start_dovecot()
    yield server
    server.remove()
