"""The tovholder's hours against real databases: validation, events, alerts once."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from engine.domain.errors import InvalidInputError, NotFoundError
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.timelog import (
    check_budget_end,
    delete_time,
    edit_time,
    list_time,
    log_time,
    time_status,
)
from engine.store.store import Store
from notifications.envelope import render_envelope

NOW = datetime(2027, 2, 15, 9, 0, tzinfo=UTC)  # Monday of programme week 6
AFTER_END = datetime(2027, 5, 18, 9, 0, tzinfo=UTC)  # after 2027-05-14, the end with TILPASSET
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Tovholder", "soren@oestervang.dk")


def create(fbh: Fbh, org: str = "Boligselskabet Østervang", **changes: Any) -> int:
    values: dict[str, Any] = {
        "workflow": "socialt-beredskab",
        "organisation": org,
        "municipality": "Helsingør",
        "consultant": ANNE,
        "tovholder": SOREN,
        "start": date(2027, 1, 4),
    }
    values.update(changes)
    created = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    return fbh.create_programme(NewProgramme(**values), created).id


def snapshot(store: Store) -> tuple[Any, ...]:
    """Everything a refused command must leave untouched."""
    with store.transaction() as tx:
        entries = [
            (e.id, e.workflow, e.work_date, e.hours, e.note)
            for p in tx.programmes.find()
            for e in tx.time.find(p.id or 0)
        ]
        return (entries, len(tx.events.find()), len(tx.outbox.find()))


def budget_alerts(store: Store) -> list[tuple[str, str]]:
    with store.transaction() as tx:
        rows = [r for r in tx.outbox.find() if r.kind == "budget_alert"]
    return sorted((r.dedupe_key.split(":")[3], r.recipient) for r in rows)


# ----- logging ------------------------------------------------------------------------------


def test_log_defaults_to_today_and_the_base_part_and_writes_an_event(
    fbh: Fbh, store: Store
) -> None:
    pid = create(fbh, extensions=("tilpasset",))
    change = log_time(fbh, pid, hours=2.5, note="Kortlægning", now=NOW)

    assert (change.entry.day, change.entry.part, change.entry.hours) == (
        date(2027, 2, 15),
        "socialt-beredskab",
        2.5,
    )
    assert change.entry.person == "soren@oestervang.dk"
    with store.transaction() as tx:
        event = tx.events.find(programme_id=pid)[-1]
    assert (event.entity, event.entity_id, event.event, event.actor) == (
        "time",
        change.entry.id,
        "log",
        "test",
    )
    assert event.data["entry"] == {
        "part": "socialt-beredskab",
        "date": "2027-02-15",
        "hours": 2.5,
        "note": "Kortlægning",
    }


def test_the_extension_has_its_own_budget(fbh: Fbh) -> None:
    pid = create(fbh, extensions=("tilpasset",))
    log_time(fbh, pid, hours=4, day=date(2027, 1, 12), now=NOW)
    log_time(fbh, pid, hours=3, part="tilpasset", now=NOW)

    status = time_status(fbh, pid, NOW).to_json()
    assert {k: status[k] for k in ("min_hours", "max_hours", "used_hours", "status")} == {
        "min_hours": 14.8,
        "max_hours": 22.2,
        "used_hours": 4.0,
        "status": "under",
    }
    parts = {p["part"]: p for p in status["parts"]}
    assert (parts["tilpasset"]["min_hours"], parts["tilpasset"]["max_hours"]) == (5.0, 10.0)
    assert parts["tilpasset"]["used_hours"] == 3.0
    assert parts["tilpasset"]["first_day"] == "2027-02-15"  # programme week 6
    assert parts["tilpasset"]["last_day"] == "2027-05-14"
    assert parts["socialt-beredskab"]["last_day"] == "2027-04-02"  # its own 12 weeks
    assert parts["socialt-beredskab"]["elapsed_share"] == pytest.approx(42 / 88, abs=0.001)
    assert parts["tilpasset"]["elapsed_share"] == 0.0
    assert [e.part for e in list_time(fbh, pid)] == ["socialt-beredskab", "tilpasset"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hours": 0}, "must be more than 0"),
        ({"hours": -2}, "must be more than 0"),
        ({"hours": 0.001}, "must be more than 0"),
        ({"hours": float("nan")}, "must be more than 0"),
        ({"hours": 24.5}, "at most 24 hours"),
        ({"day": date(2027, 2, 16)}, "lies in the future"),
        ({"day": date(2026, 11, 30)}, "outside programme"),  # before it was created
        ({"part": "basis"}, "unknown part 'basis'"),
        ({"part": "tilpasset"}, "unknown part 'tilpasset'"),  # not an extension of this one
        ({"note": "x" * 501}, "longer than 500"),
    ],
)
def test_a_bad_entry_is_refused_and_changes_nothing(
    fbh: Fbh, store: Store, changes: dict[str, Any], message: str
) -> None:
    pid = create(fbh)
    log_time(fbh, pid, hours=1, now=NOW)
    before = snapshot(store)
    values: dict[str, Any] = {"hours": 2.0} | changes

    with pytest.raises(InvalidInputError, match=message):
        log_time(fbh, pid, now=NOW, **values)
    assert snapshot(store) == before


def test_a_date_after_the_end_is_refused(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    before = snapshot(store)
    with pytest.raises(InvalidInputError, match=r"outside programme .*2027-04-02"):
        log_time(fbh, pid, hours=1, day=date(2027, 4, 5), now=AFTER_END)
    assert snapshot(store) == before


def test_unknown_and_cancelled_programmes_are_refused(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    with pytest.raises(NotFoundError, match="programme 999"):
        log_time(fbh, 999, hours=1, now=NOW)
    fbh.cancel(pid, NOW)
    before = snapshot(store)
    with pytest.raises(InvalidInputError, match="cancelled"):
        log_time(fbh, pid, hours=1, now=NOW)
    assert snapshot(store) == before


def test_at_most_24_hours_per_person_and_day_across_programmes(fbh: Fbh, store: Store) -> None:
    first = create(fbh, "Boligselskabet A")
    second = create(fbh, "Boligselskabet B", consultant=Contact("Bo", "bo@bl.dk"))
    day = date(2027, 2, 3)
    log_time(fbh, first, hours=20, day=day, now=NOW)
    before = snapshot(store)

    with pytest.raises(InvalidInputError, match=r"would have 24\.5 hours on 2027-02-03"):
        log_time(fbh, second, hours=4.5, day=day, now=NOW)
    assert snapshot(store) == before
    log_time(fbh, second, hours=4, day=day, now=NOW)
    log_time(fbh, second, hours=4.5, day=date(2027, 2, 4), now=NOW)


# ----- editing and deleting -----------------------------------------------------------------


def test_edit_changes_only_what_is_given_and_logs_before_and_after(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    entry = log_time(fbh, pid, hours=20, day=date(2027, 2, 3), note="Workshop", now=NOW).entry

    change = edit_time(fbh, entry.id, hours=24, now=NOW)  # its own 20 h do not count twice

    assert (change.entry.hours, change.entry.day, change.entry.note) == (
        24.0,
        date(2027, 2, 3),
        "Workshop",
    )
    with store.transaction() as tx:
        event = tx.events.find(programme_id=pid)[-1]
    assert (event.entity, event.event) == ("time", "edit")
    assert event.data["before"]["hours"] == 20 and event.data["after"]["hours"] == 24


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "nothing to change"),
        ({"hours": 0}, "must be more than 0"),
        ({"day": date(2030, 1, 1)}, "lies in the future"),
        ({"part": "tilpasset"}, "unknown part"),
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(
    fbh: Fbh, store: Store, changes: dict[str, Any], message: str
) -> None:
    pid = create(fbh)
    entry = log_time(fbh, pid, hours=2, now=NOW).entry
    before = snapshot(store)
    with pytest.raises(InvalidInputError, match=message):
        edit_time(fbh, entry.id, now=NOW, **changes)
    assert snapshot(store) == before


def test_delete_removes_the_entry_and_logs_it(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    entry = log_time(fbh, pid, hours=2, now=NOW).entry

    deleted = delete_time(fbh, entry.id, NOW)

    assert deleted.id == entry.id and list_time(fbh, pid) == []
    with store.transaction() as tx:
        event = tx.events.find(programme_id=pid)[-1]
    assert (event.entity, event.entity_id, event.event) == ("time", entry.id, "delete")
    assert time_status(fbh, pid, NOW).base.used_hours == 0
    with pytest.raises(NotFoundError, match="time entry"):
        delete_time(fbh, entry.id, NOW)
    with pytest.raises(NotFoundError, match="time entry"):
        edit_time(fbh, entry.id, hours=1, now=NOW)


def test_entries_of_a_cancelled_programme_cannot_be_changed(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    entry = log_time(fbh, pid, hours=2, now=NOW).entry
    fbh.cancel(pid, NOW)
    before = snapshot(store)
    with pytest.raises(InvalidInputError, match="cancelled"):
        edit_time(fbh, entry.id, hours=3, now=NOW)
    with pytest.raises(InvalidInputError, match="cancelled"):
        delete_time(fbh, entry.id, NOW)
    assert snapshot(store) == before


# ----- alerts -------------------------------------------------------------------------------


def test_alerts_at_80_percent_and_over_the_maximum_are_queued_once(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    log_time(fbh, pid, hours=17, day=date(2027, 2, 1), now=NOW)  # 77 %
    assert budget_alerts(store) == []

    change = log_time(fbh, pid, hours=1, day=date(2027, 2, 2), now=NOW)  # 18 h = 81 %
    assert change.alerts_queued == 2
    both = [("threshold", "anne@bl.dk"), ("threshold", "soren@oestervang.dk")]
    assert budget_alerts(store) == both

    log_time(fbh, pid, hours=1, day=date(2027, 2, 3), now=NOW)  # still 80–100 %
    assert budget_alerts(store) == both

    over = log_time(fbh, pid, hours=4, day=date(2027, 2, 4), now=NOW)  # 23 h
    assert over.alerts_queued == 2
    with_over = [*both, ("over", "anne@bl.dk"), ("over", "soren@oestervang.dk")]
    assert budget_alerts(store) == sorted(with_over)

    delete_time(fbh, over.entry.id, NOW)
    log_time(fbh, pid, hours=5, day=date(2027, 2, 5), now=NOW)  # over again: not twice
    assert budget_alerts(store) == sorted(with_over)


def test_a_jump_past_the_maximum_sends_only_the_over_alert(fbh: Fbh, store: Store) -> None:
    pid = create(fbh, extensions=("tilpasset",))
    log_time(fbh, pid, hours=11, part="tilpasset", now=NOW)
    assert budget_alerts(store) == [("over", "anne@bl.dk"), ("over", "soren@oestervang.dk")]
    with store.transaction() as tx:
        keys = [r.dedupe_key for r in tx.outbox.find() if r.kind == "budget_alert"]
    assert all(k.startswith(f"budget:{pid}:tilpasset:over:") for k in keys)


def test_an_alert_renders_from_its_outbox_row(fbh: Fbh, store: Store) -> None:
    pid = create(fbh)
    log_time(fbh, pid, hours=18, day=date(2027, 2, 1), now=NOW)
    with store.transaction() as tx:
        row = next(r for r in tx.outbox.find() if r.kind == "budget_alert")
    envelope = render_envelope(row, fbh.settings, NOW)
    message = email.message_from_bytes(envelope.data, policy=email.policy.default)
    assert message["Subject"] == (
        "81 % af tidsbudgettet er brugt – Socialt beredskab (Boligselskabet Østervang)"
    )
    assert envelope.recipients in (("anne@bl.dk",), ("soren@oestervang.dk",))


def test_check_budget_end_warns_the_consultant_once_when_hours_are_under_the_minimum(
    fbh: Fbh, store: Store
) -> None:
    short = create(fbh, "Boligselskabet A", extensions=("tilpasset",))
    enough = create(fbh, "Boligselskabet B", tovholder=Contact("Eva", "eva@b.dk"))
    cancelled = create(fbh, "Boligselskabet C", tovholder=Contact("Ib", "ib@c.dk"))
    log_time(fbh, short, hours=5, day=date(2027, 1, 12), now=NOW)
    log_time(fbh, short, hours=6, part="tilpasset", now=NOW)  # within 5–10 h
    log_time(fbh, enough, hours=15, day=date(2027, 1, 12), now=NOW)
    fbh.cancel(cancelled, NOW)

    assert check_budget_end(fbh, NOW) == 0  # nothing has ended yet
    assert check_budget_end(fbh, AFTER_END) == 1
    assert check_budget_end(fbh, AFTER_END) == 0
    assert budget_alerts(store) == [("under", "anne@bl.dk")]
    with store.transaction() as tx:
        row = next(r for r in tx.outbox.find() if r.kind == "budget_alert")
    assert row.dedupe_key == f"budget:{short}:socialt-beredskab:under:anne@bl.dk"
    assert row.payload["context"]["programme_end_text"] == "14. maj 2027"
    render_envelope(row, fbh.settings, AFTER_END)


def test_check_budget_end_leaves_programmes_that_ended_long_ago(fbh: Fbh, store: Store) -> None:
    create(fbh)
    assert check_budget_end(fbh, datetime(2027, 9, 1, tzinfo=UTC)) == 0
    assert budget_alerts(store) == []
