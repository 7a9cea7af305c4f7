"""Schema upgrades through the real CLI (issue 13 §4): read commands never create or migrate
a database; ``fbh migrate`` does, and says what it did; a schema newer than this fbh is one
line and exit 3; read commands on SQLite answer while another process holds the write lock.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from fbhcli import Cli, write_config
from sqlalchemy import text

from engine.store.database import HEAD_REVISION, alembic_config, current_revision
from engine.store.store import Store

READ_COMMANDS = [
    ("programme", "list"),
    ("programme", "show", "1"),
    ("status",),
    ("outbox", "list"),
    ("outbox", "show", "1"),
    ("request", "list"),
    ("time", "status", "1"),
    ("inbox", "list"),
    ("participant", "list", "1"),
    ("participant", "headcount", "1"),
]
NEWER = "the database schema is newer than this fbh (0999 > {head}); upgrade fbh"


def make_cli(home: Path, url: str) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    return Cli(home=home, config=write_config(home, url), env=env)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The CLI on an empty database: a SQLite file not there yet, or an empty schema."""
    if request.param == "sqlite":
        return make_cli(tmp_path, "sqlite:///var/fbh.sqlite3")
    return make_cli(tmp_path, str(request.getfixturevalue("pg_schema_url")))


def revision(cli: Cli) -> str | None:
    from engine.config.settings import load_settings

    store = Store.open(load_settings(cli.config).database_url, run_migrations=False)
    try:
        return current_revision(store.engine)
    finally:
        store.dispose()


def set_revision(cli: Cli, value: str) -> None:
    from engine.config.settings import load_settings

    store = Store.open(load_settings(cli.config).database_url, run_migrations=False)
    try:
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": value})
    finally:
        store.dispose()


def migrate_to(cli: Cli, target: str) -> None:
    """The schema of an older fbh: Alembic up to ``target`` only."""
    from alembic import command

    from engine.config.settings import load_settings

    store = Store.open(load_settings(cli.config).database_url, run_migrations=False)
    try:
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, target)
    finally:
        store.dispose()


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_a_read_command_in_an_empty_folder_creates_nothing_and_says_where_it_looked(
    fresh_cli: Cli, args: tuple[str, ...]
) -> None:
    result = fresh_cli(*args, check=False)

    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no database at "), result.err
    assert str(fresh_cli.home / "var" / "fbh.sqlite3") in lines[0]
    assert "fbh migrate" in lines[0]
    assert not (fresh_cli.home / "var").exists()  # no file, not even its folder


def test_a_read_command_on_an_empty_postgres_schema_creates_no_tables(
    tmp_path: Path, pg_schema_url: str
) -> None:
    cli = make_cli(tmp_path, pg_schema_url)
    result = cli("programme", "list", check=False)
    assert result.code == 2, result
    assert "has no fbh tables yet" in result.err and "fbh migrate" in result.err
    assert revision(cli) is None


def test_migrate_creates_the_database_and_says_what_it_did(any_cli: Cli) -> None:
    first = any_cli("migrate", "--json").json()
    assert first["before"] is None and first["after"] == HEAD_REVISION and first["changed"]
    again = any_cli("migrate", "--json").json()
    assert again == first | {"before": HEAD_REVISION, "changed": False}
    assert "nothing to do" in any_cli("migrate").out
    assert any_cli("programme", "list", "--json").json() == []


def test_a_command_that_creates_data_creates_a_fresh_database(fresh_cli: Cli) -> None:
    """The README's first steps work in an empty folder: `fbh demo`, then `fbh status`."""
    added = fresh_cli(
        "request", "add", "--org", "Boligselskabet Øst", "--contact", "Mette <mette@oest.dk>",
        "--wished-start", "2027-03-01", "--json",
    ).json()  # fmt: skip
    assert added["state"] == "received"
    assert fresh_cli("status").code == 0


def test_read_commands_never_migrate_an_older_schema(any_cli: Cli) -> None:
    """A newer fbh's `fbh status` must not upgrade the database under running daemons."""
    migrate_to(any_cli, "0004")
    for args in (("status",), ("programme", "list"), ("outbox", "list", "--json")):
        result = any_cli(*args, check=False)
        assert result.code == 3, result
        lines = result.err.strip().splitlines()
        assert lines == [
            f"error: the database schema is older than this fbh (0004 < {HEAD_REVISION}); run "
            "'fbh migrate' (or start 'fbh serve', which migrates at start)"
        ]
    assert revision(any_cli) == "0004"  # untouched

    done = any_cli("migrate")
    assert f"from schema revision 0004 to {HEAD_REVISION}" in done.out
    assert revision(any_cli) == HEAD_REVISION
    assert any_cli("status").code == 0


def test_a_newer_schema_is_one_line_and_exit_3_in_danish_and_english(any_cli: Cli) -> None:
    any_cli("migrate")
    set_revision(any_cli, "0999")
    for args in (("programme", "list"), ("status", "--json"), ("migrate",), ("demo",)):
        result = any_cli(*args, check=False)
        assert result.code == 3, result
        assert result.err == f"error: {NEWER.format(head=HEAD_REVISION)}\n"
        assert result.out == ""
    danish = any_cli.danish()("programme", "list", check=False)
    assert danish.code == 3
    assert danish.err.strip().splitlines() == [
        f"error: databasens skema er nyere end denne fbh (0999 > {HEAD_REVISION}); opgrader fbh"
    ]
    assert revision(any_cli) == "0999"  # nothing tried to change it


def test_serve_refuses_a_newer_schema(any_cli: Cli) -> None:
    any_cli("migrate")
    set_revision(any_cli, "0999")
    result = any_cli("serve", check=False, timeout=60)
    assert result.code == 3, result
    assert NEWER.format(head=HEAD_REVISION) in result.err


def test_read_commands_answer_while_another_process_holds_the_write_lock(cli: Cli) -> None:
    """Today's code waited 30 s for the lock and failed with "database is locked"."""
    cli(
        "programme", "create", "--workflow", "socialt-beredskab", "--org", "Boligselskabet Øst",
        "--municipality", "Helsingør", "--consultant", "Anne <anne@bl.dk>",
        "--tovholder", "Søren <soren@oest.dk>", "--start", "2027-01-04",
    )  # fmt: skip
    writer = sqlite3.connect(cli.home / "var" / "fbh.sqlite3", isolation_level=None, timeout=1)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE programmes SET municipality = 'Hillerød'")  # not committed
        # Each must answer well within SQLite's busy timeout (30 s), which today's code
        # waited out before failing with "database is locked" (a slow, loaded test machine
        # takes a few seconds to start fbh).
        listed = cli("programme", "list", "--json", timeout=20).json()
        status = cli("status", "--json", timeout=20).json()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [p["municipality"] for p in listed] == ["Helsingør"]  # the last commit
    assert status["outbox"]["pending"] > 0
