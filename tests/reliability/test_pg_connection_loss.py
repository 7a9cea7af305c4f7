"""Every PostgreSQL session of a running ``fbh serve`` killed with ``pg_terminate_backend`` on
the shared server (its pool, its LISTEN connection and its leadership lock), in the middle of
a burst of sends and again while it is idle. A connection-loss fault, not a server restart
(that is test_postgres_restart.py), so it is counted apart.

Only the daemon's own sessions are ended: they are found by the local ports of its sockets
(``/proc``), never by name, because other tests use the same server. The daemon must survive,
lead again, hear changes again (LISTEN reconnects) and deliver everything once.
"""

from __future__ import annotations

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
    sessions,
    settled,
    start_daemon,
    terminate_backends,
    wait_until,
)

from engine.backends.postgres import libpq_url


@pytest.mark.slow
@pytest.mark.postgres
def test_the_daemon_survives_losing_every_connection(
    tmp_path: Path, pg_schema_url: str, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    cli = make_cli(tmp_path, pg_schema_url, mail=smtp.mail())
    admin = libpq_url(pg_schema_url)
    served = start_daemon(daemons, cli, "pg")
    served.wait_ready()

    for i in range(10):
        smtp.server.rcpt_delays[f"k{i}@bl.dk"] = smtp.server.rcpt_delays[f"t{i}@org.dk"] = 0.02
    due = burst(cli, 10)
    wait_until(lambda: len(smtp.server.messages) >= due // 3, 60, "a third delivered")
    assert {"fbh serve (leadership)", "fbh serve (listen)"} <= set(sessions(admin, served.pid))
    ended = terminate_backends(admin, served.pid)
    assert ended >= 2  # at least the lock and the LISTEN sessions
    tally.faults(1)  # type: ignore[attr-defined]
    poll(lambda: settled(cli), 60, "the burst delivered after the connection loss")
    poll(lambda: leader_pid(cli) == served.pid, 20, "the daemon leads again")

    poll(lambda: len(sessions(admin, served.pid)) >= 2, 20, "the daemon reconnected")
    assert terminate_backends(admin, served.pid) >= 2  # idle this time
    tally.faults(1)  # type: ignore[attr-defined]
    poll(lambda: leader_pid(cli) == served.pid, 20, "the daemon leads again")
    began = time.monotonic()
    more = burst(cli, 2, first=100)  # heard through the new LISTEN connection
    poll(lambda: settled(cli), 30, "new work delivered after the connection loss")
    pickup = time.monotonic() - began
    assert served.proc.poll() is None, served.text()
    assert served.stop()[0] == 0

    assert "Traceback" not in served.text(), served.text()
    rows = [r for r in outbox(cli) if r.due_at <= datetime.now(UTC)]
    assert {r.state for r in rows} == {"sent"}
    result = delivery(cli, smtp)
    tally.sent(len(result.expected))  # type: ignore[attr-defined]
    tally.lost(len(result.lost))  # type: ignore[attr-defined]
    assert result.lost == set() and result.extra == set()
    assert len(result.expected) == due + more  # the same on every weekday (no digests)
    assert result.duplicates == Counter()  # nothing twice
    print(
        f"\nconnection loss ×2: {len(result.expected)} messages, 0 lost, "
        f"{sum(result.duplicates.values())} duplicate(s); {ended} sessions ended mid-burst; "
        f"new work delivered {pickup:.1f} s after the idle loss"
    )
