"""A progress bar on stderr for the long operations, only when stderr is a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fbhcli import FBH, Cli


def next_monday() -> str:
    today = datetime.now(ZoneInfo("Europe/Copenhagen")).date()
    return (today + timedelta(days=7 - today.weekday())).isoformat()


def queue_mail(cli: Cli, org: str = "Boligselskabet Øst") -> None:
    cli(
        "programme", "create", "--workflow", "socialt-beredskab", "--org", org,
        "--municipality", "Helsingør", "--consultant", "Anne <anne@bl.dk>",
        "--tovholder", "Søren <soren@example.dk>", "--start", next_monday(),
    )  # fmt: skip


def on_a_terminal(cli: Cli, *args: str) -> tuple[int, str, str]:
    """Run fbh with stderr on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [str(FBH), "--config", str(cli.config), *args],
            stdout=subprocess.PIPE, stderr=slave, env=cli.env, cwd=cli.home, timeout=120,
        )  # fmt: skip
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    return proc.returncode, proc.stdout.decode(), b"".join(chunks).decode(errors="replace")


def test_outbox_send_shows_a_bar_on_a_terminal_only(cli: Cli) -> None:
    queue_mail(cli)
    code, out, terminal = on_a_terminal(cli, "outbox", "send")
    assert code == 0, terminal
    assert "100%" in terminal and "#" in terminal, terminal
    assert "%" not in out

    queue_mail(cli, "Fællesbo")  # again, with stderr a pipe: no bar
    piped = cli("outbox", "send")
    assert "%" not in piped.err and "#" not in piped.err


def test_digest_send_shows_a_bar_on_a_terminal(cli: Cli) -> None:
    queue_mail(cli)
    code, _, terminal = on_a_terminal(cli, "digest", "send")
    assert code == 0, terminal
    assert "100%" in terminal, terminal
