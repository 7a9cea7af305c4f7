"""One leader, whatever happens to it (issue 13 §1 and §2), with real ``fbh serve`` processes
and Message-IDs counted at a real aiosmtpd server.

* SQLite takes one daemon. A second ``fbh serve`` that reaches the same database file through
  a symlink or a hard link is refused (exit 2, one line), and the running daemon delivers its
  burst once: before the fix both ran, each released the other's claims every second, and 54
  messages became 928 deliveries.
* PostgreSQL: a leader frozen with ``SIGSTOP`` keeps its session and so its advisory lock.
  After the lease (``daemon.heartbeat_timeout_seconds``) the other daemon ends that session
  and leads; the frozen one, woken with ``SIGCONT``, gives up the lead at once. With
  ``deliver = "leader"`` only the leader sends, so everything due arriving proves the takeover.
  Nothing is lost; a message arrives twice only if the frozen leader had it in flight.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faults import (
    Daemons,
    SmtpSwitch,
    burst,
    delivery,
    leader_pid,
    make_cli,
    outbox,
    poll,
    settled,
    start_daemon,
    wait_until,
)

BATCH = 20  # daemon.batch_size (the default, stated so the bound below is explicit)
LEASE = 10.0  # daemon.heartbeat_timeout_seconds, the default
PROGRAMMES = 12


@pytest.mark.slow
def test_a_second_sqlite_daemon_through_a_symlink_or_a_hard_link_is_refused(
    tmp_path: Path, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    database = tmp_path / "a" / "var" / "fbh.sqlite3"
    cli = make_cli(tmp_path / "a", f"sqlite:///{database}", mail=smtp.mail())
    total = burst(cli, PROGRAMMES)
    for i in range(PROGRAMMES):  # a slow server: the second daemons start mid-burst
        smtp.server.rcpt_delays[f"k{i}@bl.dk"] = smtp.server.rcpt_delays[f"t{i}@org.dk"] = 0.02
    served = start_daemon(daemons, cli, "one")
    served.wait_ready()
    wait_until(lambda: len(smtp.server.messages) >= 5, 60, "the burst under way")

    (tmp_path / "b").mkdir()
    symlink = tmp_path / "b" / "link.sqlite3"
    symlink.symlink_to(database)
    hard_link = tmp_path / "b" / "hard.sqlite3"
    hard_link.hardlink_to(database)
    for name, path in (("symlink", symlink), ("hard-link", hard_link)):
        other = make_cli(tmp_path / name, f"sqlite:///{path}", mail=smtp.mail())
        refused = other("serve", check=False)
        tally.faults(1)  # type: ignore[attr-defined]
        assert refused.code == 2, (name, refused.err)
        errors = [line for line in refused.err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith("error: another fbh serve"), errors
        assert refused.err.strip().splitlines()[-1] == errors[0]  # the serve log lines before
        assert f"(pid {served.pid})" in errors[0]
        assert "Traceback" not in refused.err

    poll(lambda: settled(cli), 90, "the burst delivered")
    assert served.stop()[0] == 0
    text = served.text()
    assert "sending again" not in text, text  # nobody released a live daemon's claims
    result = delivery(cli, smtp)
    tally.sent(len(result.expected))  # type: ignore[attr-defined]
    tally.lost(len(result.lost))  # type: ignore[attr-defined]
    assert result.lost == set() and result.extra == set()
    assert len(result.expected) >= total
    assert result.duplicates == Counter()
    rows = [r for r in outbox(cli) if r.due_at <= datetime.now(UTC)]
    assert max(r.attempts for r in rows) == 1


@pytest.mark.slow
@pytest.mark.postgres
def test_a_frozen_postgres_leader_is_replaced_and_stops_leading_when_it_wakes(
    tmp_path: Path, pg_schema_url: str, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    cli = make_cli(
        tmp_path,
        pg_schema_url,
        mail=smtp.mail(),
        extra=f'[daemon]\ndeliver = "leader"\nbatch_size = {BATCH}',
    )
    first = start_daemon(daemons, cli, "a")
    first.wait_ready()
    poll(lambda: leader_pid(cli) == first.pid, 20, "the first daemon leads")
    second = start_daemon(daemons, cli, "b")
    second.wait_ready()

    for i in range(PROGRAMMES):  # a slow server, so that the freeze lands inside a batch
        smtp.server.rcpt_delays[f"k{i}@bl.dk"] = smtp.server.rcpt_delays[f"t{i}@org.dk"] = 0.02
    total = burst(cli, PROGRAMMES)
    wait_until(lambda: len(smtp.server.messages) >= total // 3, 60, "a third delivered")
    os.kill(first.pid, signal.SIGSTOP)
    frozen = time.monotonic()
    tally.faults(1)  # type: ignore[attr-defined]
    try:
        in_flight = {r.message_id for r in outbox(cli) if r.state == "sending"}
        poll(lambda: leader_pid(cli) == second.pid, LEASE + 10, "the other daemon leads")
        takeover = time.monotonic() - frozen
        poll(lambda: settled(cli), 60, "everything due delivered while the leader is frozen")
        delivered = time.monotonic() - frozen
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert "ended it to take the lead" in second.text(), second.text()

    wait_until(lambda: "no longer leads" in first.text(), 20, "the woken daemon steps down")
    assert first.proc.poll() is None, first.text()  # it lives on, as a follower
    woken = first.text().split("no longer leads", 1)[1]
    assert " leads" not in woken and "took the lead" not in woken, woken
    poll(lambda: leader_pid(cli) == second.pid, 10, "the new leader keeps the lead")
    status = cli("status", "--json").json()
    assert status["leader_state"] == "leading" and str(second.pid) in status["leader"]
    poll(lambda: settled(cli), 60, "the woken daemon's batch recorded")
    assert first.stop()[0] == 0 and second.stop()[0] == 0

    rows = [r for r in outbox(cli) if r.due_at <= datetime.now(UTC)]
    assert {r.state for r in rows} == {"sent"}
    result = delivery(cli, smtp)
    tally.sent(len(result.expected))  # type: ignore[attr-defined]
    tally.lost(len(result.lost))  # type: ignore[attr-defined]
    assert result.lost == set() and result.extra == set()
    assert len(result.expected) >= total
    duplicates = sum(result.duplicates.values())
    assert set(result.duplicates) <= in_flight  # only what the frozen leader had in flight
    assert duplicates <= BATCH
    assert takeover <= LEASE + 5
    print(
        f"\nSIGSTOP of the leader: {len(result.expected)} messages, 0 lost, {duplicates} "
        f"duplicate(s) ({len(in_flight)} in flight); the other led after {takeover:.1f} s, "
        f"everything due delivered after {delivered:.1f} s"
    )
