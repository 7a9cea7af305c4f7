"""``fbh backup``: a copy of the SQLite database taken while ``fbh serve`` runs (and writes)
restores, and ``fbh status`` works on it. PostgreSQL is pg_dump's job: the command says so."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fbhcli import Cli
from served import Daemons, cli_env, daemons_fixture, wait_until, write_daemon_config
from test_serve import create_args, programme_mail

PER_PROGRAMME = 9


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    yield from daemons_fixture()


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
        assert "sikkerhedskopi" in result.out
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
