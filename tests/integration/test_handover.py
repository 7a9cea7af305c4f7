"""Handing a role over (engine/services/handover.py) on SQLite and PostgreSQL: what is
queued, what is refused, and the continuing tovholder after the programme."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.domain.errors import FbhError
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.pages import issue_link, token_hash

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SOEREN = Contact("Søren Ø", "soren@ost.dk")
TOVE = Contact("Tove Ny", "tove@ost.dk")
ANNE = Contact("Anne K", "anne@bl.dk")


def create(fbh: Fbh) -> int:
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Øst",
            municipality="Helsingør",
            consultant=ANNE,
            tovholder=SOEREN,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    return view.id


def pending_to(fbh: Fbh, email: str) -> list[str]:
    with fbh.store.transaction() as tx:
        rows = tx.outbox.find(states=["pending"])
    return sorted(
        r.kind + (f":{r.payload['invite']['method']}" if "invite" in r.payload else "")
        for r in rows
        if r.recipient == email
    )


def test_the_old_tovholders_queued_mail_moves_to_the_new_one(fbh: Fbh) -> None:
    pid = create(fbh)
    before = pending_to(fbh, SOEREN.email)
    # check-ins are months ahead: not queued yet (the rolling horizon, test_horizon.py)
    assert before.count("checkin") == 0 and "invite:REQUEST" in before
    view, changes = fbh.edit_programme(pid, NOW, tovholder=TOVE)
    assert [(c.role.value, c.old.email, c.new.email, c.meetings) for c in changes] == [
        ("tovholder", SOEREN.email, TOVE.email, 4)
    ]
    assert view.tovholder == TOVE
    # Nothing had gone out to Søren: nothing to cancel, and nothing left queued for him.
    assert [k for k in pending_to(fbh, SOEREN.email) if k != "programme_summary"] == []
    after = pending_to(fbh, TOVE.email)
    assert after.count("checkin") == 0 and after.count("invite:REQUEST") == 4
    assert after.count("task_due") == before.count("task_due")
    # the first check-in, once within the horizon, goes to Tove alone
    fbh.top_up(fbh.show(pid).checkins[0].due - timedelta(days=1))
    assert pending_to(fbh, TOVE.email).count("checkin") == 1
    assert "checkin" not in pending_to(fbh, SOEREN.email)
    # The same person again changes nothing.
    assert fbh.edit_programme(pid, NOW, tovholder=TOVE)[1] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tovholder": ANNE}, "already this programme's consultant"),
        ({}, "give --tovholder or --consultant"),
    ],
)
def test_a_handover_that_makes_no_sense_is_refused(
    fbh: Fbh, changes: dict[str, Contact], message: str
) -> None:
    pid = create(fbh)
    with pytest.raises(FbhError, match=message):
        fbh.edit_programme(pid, NOW, **changes)
    assert fbh.show(pid).tovholder == SOEREN


def test_the_continuing_tovholder_after_the_end_and_none_after_a_cancel(fbh: Fbh) -> None:
    pid = create(fbh)
    after_end = datetime(2027, 4, 20, 9, 0, tzinfo=UTC)
    fbh.advance(after_end)
    assert fbh.show(pid).state == "completed"
    with pytest.raises(FbhError):
        fbh.edit_programme(pid, after_end, consultant=Contact("Bo", "bo@bl.dk"))
    _view, changes = fbh.edit_programme(pid, after_end, tovholder=TOVE)
    assert changes[0].meetings == 0
    assert pending_to(fbh, TOVE.email) == []  # the first check-in is months away still
    assert fbh.show(pid).checkins[0].state == "planned"
    fbh.top_up(fbh.show(pid).checkins[-1].due)  # all three within the horizon by then
    assert pending_to(fbh, TOVE.email) == ["checkin"] * 3

    other = create(fbh)
    fbh.cancel(other, NOW)
    with pytest.raises(FbhError):
        fbh.edit_programme(other, NOW, tovholder=TOVE)
    assert [c.state for c in fbh.show(other).checkins] == ["cancelled"] * 3


def test_handing_the_tovholder_role_over_revokes_the_page_links(fbh: Fbh) -> None:
    pid = create(fbh)
    token = issue_link(fbh, pid, NOW)
    with fbh.store.transaction() as tx:
        assert tx.pages.live(token_hash(token)) is not None
    fbh.edit_programme(pid, NOW, tovholder=TOVE)
    with fbh.store.transaction() as tx:
        assert tx.pages.live(token_hash(token)) is None
        revoked = tx.events.find(programme_id=pid, event="page-revoke")
    assert [e.data for e in revoked] == [{"revoked": 1}]
