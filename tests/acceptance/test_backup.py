"""``fbh backup``: a copy of the SQLite database taken while ``fbh serve`` runs (and writes)
restores, and ``fbh status`` works on it. PostgreSQL is pg_dump's job: the command says so."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fbhcli import Cli
from served import Daemons, cli_env, daemons_fixture, wait_until, write_daemon_config
from test_serve import create_args, programme_mail

PER_PROGRAMME = 9
PG_ADMIN = os.environ.get("FBH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    yield from daemons_fixture()


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def home(folder: Path, database_url: str = "sqlite:///var/fbh.sqlite3") -> Cli:
    (folder / "var").mkdir(parents=True, exist_ok=True)
    return Cli(folder, write_daemon_config(folder, database_url), cli_env())


def test_a_backup_under_a_running_daemon_restores(tmp_path: Path, daemons: Daemons) -> None:
    live = home(tmp_path / "live")
    for i in range(3):
        live(*create_args(f"Boligorganisation {i}", i))
    served = daemons.start(live, "live")
    served.wait_ready()
    wait_until(lambda: programme_mail(live.maildir).total() >= 3 * PER_PROGRAMME, 20, "mail")

    # Backups while the CLI writes too: each is one consistent commit, never a torn one.
    writer = threading.Thread(
        target=lambda: [live(*create_args(f"Samtidig {i}", 10 + i)) for i in range(3)]
    )
    writer.start()
    outs = []
    for n in range(3):
        out = tmp_path / f"backup-{n}.sqlite3"
        result = live("backup", "--out", str(out))
        assert result.out.startswith("backup of ")
        outs.append(out)
    writer.join()
    final = tmp_path / "backup-final.sqlite3"
    live("backup", "--out", str(final))
    outs.append(final)
    assert served.proc.poll() is None  # the daemon ran throughout

    for out in outs:
        with sqlite3.connect(out) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            programmes = copy.execute("SELECT count(*) FROM programmes").fetchone()[0]
            milestones = copy.execute("SELECT count(*) FROM milestones").fetchone()[0]
        assert 3 <= programmes <= 6
        assert milestones == programmes * 6  # a programme is written with all its milestones

    restored = home(tmp_path / "restored")
    shutil.copyfile(final, restored.home / "var" / "fbh.sqlite3")
    status = restored("status", "--json").json()
    assert status["alive"] <= 1  # the live daemon's heartbeat row came along with the copy
    original = live("programme", "list", "--json").json()
    assert restored("programme", "list", "--json").json() == original
    assert len(original) == 6
    assert status["outbox"]["sent"] >= 3 * PER_PROGRAMME

    assert served.stop()[0] == 0


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    cli = home(tmp_path)
    cli(*create_args("Boligselskabet Østervang"))
    out = tmp_path / "backup.sqlite3"
    out.write_bytes(b"precious")

    result = cli("backup", "--out", str(out), check=False)

    assert result.code == 2
    assert result.err.strip() == f"error: --out {out}: the file exists; choose a new name"
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.glob(".*partial")] == []


@pytest.mark.postgres
def test_backup_on_postgres_points_to_pg_dump(tmp_path: Path, pg_schema_url: str) -> None:
    cli = home(tmp_path, pg_schema_url)
    out = tmp_path / "backup.sqlite3"

    result = cli("backup", "--out", str(out), check=False)

    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert "pg_dump" in result.err
    assert not out.exists()


@pytest.mark.postgres
def test_the_documented_pg_dump_restores(
    tmp_path: Path, daemons: Daemons, pg_schema_url: str
) -> None:
    """docs/operations.md (Backups): pg_dump while a daemon runs, pg_restore into an empty
    database, and fbh works on the copy."""
    tools = [shutil.which("pg_dump"), shutil.which("pg_restore")]
    if None in tools:
        skip_or_fail("pg_dump and pg_restore are needed: apt-get install -y postgresql-client")
    live = home(tmp_path / "live", pg_schema_url)
    live(*create_args("Boligselskabet Østervang"))
    served = daemons.start(live, "pg")
    served.wait_ready()
    wait_until(lambda: programme_mail(live.maildir).total() >= PER_PROGRAMME, 20, "mail")
    # A message is in the Maildir (synced) just before its row is recorded sent: wait for that.
    wait_until(lambda: sent(live) >= PER_PROGRAMME, 20, "recorded sent")
    schema = pg_schema_url.rsplit("%3D", 1)[1]
    dump = tmp_path / "fbh.dump"
    run(["pg_dump", "--format=custom", f"--file={dump}", f"--schema={schema}", PG_ADMIN])
    restored_db = f"fbh_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored_db}"')
    try:
        server = PG_ADMIN.rsplit("/", 1)[0]
        run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                f"--dbname={server}/{restored_db}",
                str(dump),
            ]
        )
        host_part = server.split("://", 1)[1]
        restored = home(
            tmp_path / "restored",
            f"postgresql+psycopg://{host_part}/{restored_db}?options=-csearch_path%3D{schema}",
        )
        assert restored("status", "--json").json()["outbox"]["sent"] >= PER_PROGRAMME
        original = live("programme", "list", "--json").json()
        assert restored("programme", "list", "--json").json() == original
    finally:
        assert served.stop()[0] == 0
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored_db}" WITH (FORCE)')


def sent(fbh: Cli) -> int:
    return int(fbh("status", "--json").json()["outbox"]["sent"])


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command[0]}: {done.stderr}"
