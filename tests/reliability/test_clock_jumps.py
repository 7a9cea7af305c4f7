"""The wall clock stepped forwards and backwards under a running ``fbh serve`` (an NTP step, a
VM resumed, an operator's ``date -s``), with real SMTP and a real SQLite file.

The daemon runs under ``fbh_clock.py``: its wall clock starts at a chosen moment and ticks at
the normal rate, and the test steps it while it runs (the monotonic clock, which asyncio's
timers use, is not moved, exactly as on a real host). Checked, counting Message-IDs at the
server:

* a step forwards sends what became due, once, by the catch-up rules of engine/catchup.py:
  a reminder up to its grace late (60 min) is sent, one later than that is recorded
  ``missed``; a meeting that has ended is marked done, once;
* a step backwards re-sends nothing, sends nothing early, and fires no transition again.

The daemon notices a step within ``daemon.leader_check_seconds`` (1 s): it compares the wall
clock with the monotonic one, then re-arms its timers from the database and runs its delivery
pass and transitions at once. (Before that fix, APScheduler slept on through a step backwards
and then forwards, past everything that fell due, until the safety poll's old wall time came
round: reminders were missed.) Each check waits for a barrier (new work queued after the
step, delivered) or for the state it expects, instead of sleeping.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from faults import (
    CPH,
    Daemons,
    SmtpSwitch,
    WallClock,
    make_cli,
    new_programme,
    open_fbh,
    outbox,
    poll,
    read,
    start_daemon,
    wait_until,
)
from fbhcli import Cli

from engine.config.settings import load_settings
from engine.domain.catchup import LateMessage, Verdict, decide, expiry
from engine.store.store import OutboxMessage

WORKFLOW = """
[workflow]
key = "kort-test"
version = "1.0"
title = "Kort testforløb"
weeks = 1

[workflow.budget]
role = "tovholder"
min = "1h"
max = "2h"

[[milestones]]
key = "moede"
title = "Kort møde"
kind = "meeting"
weeks = 0
attendees = ["consultant", "tovholder"]
time = "12:00"
duration = "1h"
location = "Online"
""" + "".join(
    f'\n[[milestones.reminders]]\nbefore = "{b}"\nto = ["consultant"]\n'
    for b in ("2h", "1h30m", "1h", "30m", "2m")
)
DAY = date(2027, 1, 11)  # a Monday: the meeting 12:00–13:00, reminders 10:00 … 11:58


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=CPH)


REMINDERS = [at(10), at(10, 30), at(11), at(11, 30), at(11, 58)]


def create(cli: Cli, index: int, start: date, now: datetime) -> None:
    with open_fbh(cli) as fbh:
        fbh.create_programme(new_programme(index, start, workflow="kort-test"), now)


def reminder_states(cli: Cli) -> list[str]:
    rows = [r for r in outbox(cli) if r.kind == "reminder" and r.programme_id == 1]
    return [r.state for r in sorted(rows, key=lambda r: r.due_at)]


def programme_events(cli: Cli) -> Counter[str]:
    with read(cli) as tx:
        return Counter(
            e.event for e in tx.events.find(programme_id=1) if (e.data or {}).get("auto")
        )


@pytest.mark.slow
def test_clock_steps_forwards_and_backwards_under_a_running_daemon(
    tmp_path: Path, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "kort-test.toml").write_text(WORKFLOW, encoding="utf-8")
    cli = make_cli(
        tmp_path / "home",
        "sqlite:///var/fbh.sqlite3",
        workflows=workflows,
        mail=smtp.mail(),
        weekly_digest=True,  # at a fixed time: 09:50 on DAY, the digests are part of the count
    )
    clock = WallClock(tmp_path, at(9, 50))
    create(cli, 1, DAY, clock.now())
    served = start_daemon(daemons, cli, "jumpy", clock=clock)
    served.wait_ready()
    server = smtp.server

    def received() -> int:
        return len(server.messages)

    def barrier(index: int, start: date) -> None:
        """New work after a step: once it is delivered, the daemon has run on the new time."""
        before = received()
        create(cli, index, start, clock.now())
        wait_until(lambda: received() >= before + 3, 15, f"programme {index} delivered")

    # 09:50: the invites, the summary and this week's digests; the reminders lie ahead
    def nothing_due() -> bool:
        now = clock.now()
        return not any(r.state in ("pending", "sending") and r.due_at <= now for r in outbox(cli))

    poll(nothing_due, 15, "first mail")
    assert reminder_states(cli) == ["pending"] * 5
    steps: list[tuple[str, datetime]] = []

    # forwards 25 min (10:15): the 10:00 reminder is 15 min late, within its grace: sent
    clock.jump(timedelta(minutes=25), served)
    steps.append(("+25 min", clock.now()))
    poll(lambda: reminder_states(cli)[0] == "sent", 15, "10:00 reminder sent")
    tally.faults(1)  # type: ignore[attr-defined]

    # backwards 1 h (09:15): nothing again, nothing early
    sent_before = received()
    clock.jump(timedelta(hours=-1), served)
    steps.append(("-1 h", clock.now()))
    barrier(2, DAY + timedelta(weeks=1))
    assert received() == sent_before + 3  # only the barrier's mail
    assert reminder_states(cli) == ["sent"] + ["pending"] * 4
    tally.faults(1)  # type: ignore[attr-defined]

    # forwards 2 h 25 min (11:40): 10:30 is 70 min late (missed), 11:00 and 11:30 are sent
    clock.jump(timedelta(hours=2, minutes=25), served)
    steps.append(("+2 h 25 min", clock.now()))
    poll(
        lambda: reminder_states(cli) == ["sent", "missed", "sent", "sent", "pending"],
        15,
        "catch-up after the step forwards",
    )
    tally.faults(1)  # type: ignore[attr-defined]

    # forwards 19 min (11:59): the 11:58 reminder, a minute late, before the meeting: sent
    clock.jump(timedelta(minutes=19), served)
    steps.append(("+19 min", clock.now()))
    poll(lambda: reminder_states(cli)[-1] == "sent", 15, "11:58 reminder sent")
    tally.faults(1)  # type: ignore[attr-defined]

    # forwards 65 min (13:04): the meeting has ended: done, once
    clock.jump(timedelta(minutes=65), served)
    steps.append(("+65 min", clock.now()))
    poll(lambda: programme_events(cli)["done"] == 1, 15, "meeting done")
    tally.faults(1)  # type: ignore[attr-defined]

    # backwards 40 min (12:24, during the meeting again): nothing re-sent or fired again
    sent_before = received()
    clock.jump(timedelta(minutes=-40), served)
    steps.append(("-40 min", clock.now()))
    barrier(3, DAY + timedelta(weeks=2))
    assert received() == sent_before + 3
    assert programme_events(cli)["done"] == 1
    tally.faults(1)  # type: ignore[attr-defined]

    assert served.stop()[0] == 0
    assert "Traceback" not in served.text(), served.text()

    rows = outbox(cli)
    sent = {r.message_id for r in rows if r.state == "sent"}
    ids = smtp.received()
    assert set(ids) == sent  # nothing lost, nothing unrecorded
    assert set(ids.values()) == {1}  # nothing twice
    assert set(programme_events(cli).values()) == {1}  # every transition once
    _check_with_catch_up_rules(cli, rows, steps)
    tally.sent(len(sent))  # type: ignore[attr-defined]
    tally.lost(len(sent - set(ids)))  # type: ignore[attr-defined]
    print(f"\nclock steps {[s for s, _ in steps]}: {len(sent)} messages, each once")


def _check_with_catch_up_rules(
    cli: Cli, rows: list[OutboxMessage], steps: list[tuple[str, datetime]]
) -> None:
    """Each reminder of programme 1 ended as engine.domain.catchup.decide says for the moment the
    daemon first saw it due: the step that jumped past it (or its own time)."""
    settings = load_settings(cli.config)
    policy, tz = settings.daemon.catch_up.policy(), settings.tz
    reminders = sorted(
        (r for r in rows if r.kind == "reminder" and r.programme_id == 1), key=lambda r: r.due_at
    )
    assert [r.due_at for r in reminders] == [t.astimezone(UTC) for t in REMINDERS]
    for row in reminders:
        seen = next((moment for _, moment in steps if moment >= row.due_at), None)
        assert seen is not None
        late = LateMessage(row.kind, row.due_at, expiry(row.kind, row.payload, tz))
        verdict = decide(late, seen, policy).verdict
        assert row.state == ("sent" if verdict is Verdict.SEND else "missed"), row.due_at
