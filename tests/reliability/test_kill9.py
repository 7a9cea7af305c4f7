"""``kill -9`` of the real ``fbh serve`` (SQLite, SMTP to a real aiosmtpd) three times in the
middle of a burst of sends, with a restart after each.

What docs/operations.md ("What fbh guarantees when it crashes") promises, and what is checked
here, counting Message-IDs at the server:

* nothing is lost: every row ends ``sent`` and the server received every one of them;
* at-least-once: a message may arrive twice only if it was in flight when the daemon died
  (claimed, ``sending``: maybe accepted by the server, not yet marked ``sent``); such
  duplicates are counted separately and bounded by ``daemon.batch_size`` per kill;
* a message the outbox had marked ``sent`` before a kill is never sent again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faults import (
    Daemons,
    SmtpSwitch,
    burst,
    delivery,
    make_cli,
    outbox,
    poll,
    quiet,
    settled,
    start_daemon,
    wait_until,
)

KILLS = 3
PROGRAMMES = 14  # 126 messages due at once (the weekly digests kept out: make_cli)
BATCH = 20  # daemon.batch_size (the default, stated so the bound below is explicit)


@dataclass
class Kill:
    """The state at one kill: what the server had, what the outbox said."""

    received: Counter[str]
    in_flight: set[str]  # rows the dead daemon had claimed: sent or not, not marked
    marked_sent: set[str]


@pytest.mark.slow
def test_kill_9_three_times_mid_burst_loses_nothing(
    tmp_path: Path, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    cli = make_cli(
        tmp_path,
        "sqlite:///var/fbh.sqlite3",
        mail=smtp.mail(),
        extra=f"[daemon]\nbatch_size = {BATCH}",
    )
    total = burst(cli, PROGRAMMES)
    for i in range(PROGRAMMES):  # a slow server, so that each kill lands inside a batch
        smtp.server.rcpt_delays[f"k{i}@bl.dk"] = smtp.server.rcpt_delays[f"t{i}@org.dk"] = 0.01

    kills: list[Kill] = []
    served = start_daemon(daemons, cli, "0")
    served.wait_ready()
    for k in range(1, KILLS + 1):
        target = total * k // (KILLS + 1)
        wait_until(lambda t=target: len(smtp.server.messages) >= t, 60, f"{target} received")
        served.kill()
        quiet(smtp.server)
        rows = outbox(cli)
        kills.append(
            Kill(
                received=smtp.received(),
                in_flight={r.message_id for r in rows if r.state == "sending"},
                marked_sent={r.message_id for r in rows if r.state == "sent"},
            )
        )
        tally.faults(1)  # type: ignore[attr-defined]
        served = start_daemon(daemons, cli, str(k))
        served.wait_ready()
        released = served.text().count("sending again")
        assert released == len(kills[-1].in_flight), served.text()

    poll(lambda: settled(cli), 90, "everything due sent")
    assert served.stop()[0] == 0

    rows = outbox(cli)
    due = [r for r in rows if r.due_at <= datetime.now(UTC)]
    assert Counter(r.state for r in due) == {"sent": len(due)}  # none failed, missed or stuck
    result = delivery(cli, smtp)
    tally.sent(len(result.expected))  # type: ignore[attr-defined]
    tally.lost(len(result.lost))  # type: ignore[attr-defined]
    assert result.lost == set()
    assert result.extra == set()
    assert len(result.expected) == total == 9 * PROGRAMMES  # the same on every weekday

    # a duplicate only of a message in flight at a kill, accepted by the server before it
    for message_id, extra in result.duplicates.items():
        windows = [k for k in kills if message_id in k.in_flight and k.received[message_id]]
        assert len(windows) >= extra, message_id
    # what the outbox had marked sent was never sent again
    final = result.received
    for kill in kills:
        for message_id in kill.marked_sent:
            assert final[message_id] == kill.received[message_id], message_id
    in_flight = sum(len(k.in_flight) for k in kills)
    duplicates = sum(result.duplicates.values())
    assert duplicates <= KILLS * BATCH
    assert duplicates <= in_flight
    print(
        f"\nkill -9 ×{KILLS}: {len(result.expected)} messages, 0 lost; in flight at the kills "
        f"{[len(k.in_flight) for k in kills]}, duplicates {duplicates} (bound {KILLS * BATCH})"
    )
