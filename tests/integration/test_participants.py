"""Participants against real databases (SQLite file and PostgreSQL): what a change queues
(invites, CANCELs, reminders, the headcount), a moved meeting, a cancelled programme, the
CSV's problems, and ``forget`` leaving no trace of the person but a pseudonym."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from engine.domain.errors import ConflictError, InvalidInputError, NotFoundError
from engine.domain.model import Contact
from engine.domain.privacy import pseudonym
from engine.services.facade import Fbh, NewProgramme
from engine.services.participants import NewParticipant
from engine.store import inbox as inbox_store
from engine.store.store import Store
from engine.store.tables import Bounce, InboxMessage

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Tovholder", "soren@oestervang.dk")
ASE = NewParticipant("Åse Ærø", "ase@helsingor.dk", "Helsingør Kommune", "Kommune", "leader")
BO = NewParticipant("Bo Politi", "bo@politi.dk", "Nordsjællands Politi", "police")


def create(fbh: Fbh, *extensions: str) -> int:
    new = NewProgramme(
        "socialt-beredskab", "Østervang", "Helsingør", ANNE, SOREN, date(2027, 1, 4), extensions
    )
    return fbh.create_programme(new, NOW).id


def outbox(store: Store, programme_id: int, *kinds: str) -> list[Any]:
    with store.transaction() as tx:
        rows = tx.outbox.find(programme_id=programme_id)
    return [r for r in rows if not kinds or r.kind in kinds]


def pending(store: Store, programme_id: int, kind: str) -> list[Any]:
    return [r for r in outbox(store, programme_id, kind) if r.state == "pending"]


def test_add_invites_and_queues_reminder_and_headcount(fbh: Fbh, store: Store) -> None:
    ident = create(fbh)
    view = fbh.participants.add(ident, ASE, NOW)
    assert (view.kind, view.kind_label, view.role) == ("municipality", "Kommune", "leader")
    invites = [r for r in outbox(store, ident, "invite") if r.recipient == ASE.email]
    assert len(invites) == 1 and invites[0].payload["invite"]["method"] == "REQUEST"
    assert "workshop" in invites[0].payload["invite"]["uid"]
    reminders = pending(store, ident, "participant_reminder")
    assert [r.recipient for r in reminders] == [ASE.email]
    # 5 working days before the workshop on Monday 8 March 2027 09:00: Monday 1 March
    assert reminders[0].due_at == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    (headcount,) = pending(store, ident, "headcount")
    assert headcount.recipient == SOREN.email
    assert headcount.due_at == datetime(2027, 3, 3, 8, 0, tzinfo=UTC)  # 3 working days before
    with pytest.raises(ConflictError):
        fbh.participants.add(ident, ASE, NOW)
    with pytest.raises(InvalidInputError, match="unknown type 'Polti'"):
        fbh.participants.add(ident, NewParticipant("X", "x@y.dk", "Y", "Polti"), NOW)


def test_an_answer_withdraws_the_reminder_and_rebuilds_the_headcount(
    fbh: Fbh, store: Store
) -> None:
    ident = create(fbh)
    fbh.participants.add(ident, ASE, NOW)
    fbh.participants.add(ident, BO, NOW)
    fbh.participants.answer(ident, BO.email, "workshop", "tentative", NOW)
    assert [r.recipient for r in pending(store, ident, "participant_reminder")] == [ASE.email]
    (headcount,) = pending(store, ident, "headcount")
    counts = headcount.payload["context"]["counts"]
    assert counts == {"accepted": 0, "tentative": 1, "unanswered": 1, "declined": 0, "lunch": 3}
    with pytest.raises(ConflictError):
        fbh.participants.answer(ident, "nobody@x.dk", "workshop", "accepted", NOW)
    with pytest.raises(InvalidInputError):
        fbh.participants.answer(ident, BO.email, "workshop", "maybe", NOW)


def test_a_moved_workshop_updates_the_participants_and_requeues(fbh: Fbh, store: Store) -> None:
    ident = create(fbh)
    fbh.participants.add(ident, ASE, NOW)
    fbh.participants.answer(ident, ASE.email, "workshop", "accepted", NOW)
    fbh.reschedule(ident, "workshop", date(2027, 3, 10), NOW)
    invites = [r for r in outbox(store, ident, "invite") if r.recipient == ASE.email]
    assert [r.payload["invite"]["sequence"] for r in invites] == [0, 1]
    assert invites[1].payload["context"]["is_update"] is True
    # the answer was to the old time: the reminder is back, the headcount counts anew
    assert [r.recipient for r in pending(store, ident, "participant_reminder")] == [ASE.email]
    (headcount,) = pending(store, ident, "headcount")
    assert headcount.payload["context"]["counts"]["unanswered"] == 1
    assert headcount.due_at == datetime(2027, 3, 5, 8, 0, tzinfo=UTC)


def test_cancelling_the_programme_cancels_for_participants(fbh: Fbh, store: Store) -> None:
    ident = create(fbh)
    fbh.participants.add(ident, ASE, NOW)
    with store.transaction() as tx:  # the invite went out
        for row in tx.outbox.find(programme_id=ident):
            if row.kind == "invite":
                row.state, row.sent_at = "sent", NOW
                tx.save(row)
    fbh.cancel(ident, NOW + timedelta(hours=1))
    cancels = [
        r
        for r in outbox(store, ident, "invite")
        if r.recipient == ASE.email and r.payload["invite"]["method"] == "CANCEL"
    ]
    assert len(cancels) == 1
    assert not pending(store, ident, "participant_reminder")
    assert not pending(store, ident, "headcount")


def test_course_days_are_their_own_part(fbh: Fbh, store: Store) -> None:
    ident = create(fbh, "tilpasset")
    fbh.participants.add(ident, ASE, NOW, part="tilpasset")
    (view,) = fbh.participants.list_participants(ident, "tilpasset")
    assert view.answers == {"afvikling": "needs-action"}
    assert fbh.participants.list_participants(ident, "socialt-beredskab") == []
    (headcount,) = pending(store, ident, "headcount")
    assert headcount.payload["context"]["meeting"]["title"] == "Afvikling af kurset"
    with pytest.raises(InvalidInputError, match="no participants in 'nope'"):
        fbh.participants.add(ident, BO, NOW, part="nope")


def test_import_reports_every_bad_row_and_imports_nothing(fbh: Fbh) -> None:
    ident = create(fbh)
    data = (
        "\ufeffnavn;email;organisation;type;rolle\r\n"
        "Åse Ærø;ase@helsingor.dk;Helsingør Kommune;Kommune;leder\r\n"
        "Bo;ikke-en-adresse;Politi;Politi;medarbejder\r\n"
        ";;;;\r\n"
        "Cy;cy@x.dk;X;Kommune;chef\r\n"
        "Åse igen;ase@helsingor.dk;Y;Kommune;leder\r\n"
    ).encode()
    with pytest.raises(InvalidInputError) as info:
        fbh.participants.import_csv(ident, data, NOW)
    message = str(info.value)
    assert "row 3:" in message and "row 5:" in message and "row 6:" in message
    assert "row 2:" not in message and "also in row 2" in message
    assert fbh.participants.list_participants(ident) == []
    for bad, why in (
        (b"navn,email,organisation,type,rolle\r\n", "row 1: the header must be"),
        ("navn;email;organisation;type;rolle\r\nÅse".encode("cp1252"), "not UTF-8"),
    ):
        with pytest.raises(InvalidInputError, match=why):
            fbh.participants.import_csv(ident, bad, NOW)


def test_import_updates_those_already_there(fbh: Fbh) -> None:
    ident = create(fbh)
    fbh.participants.add(ident, ASE, NOW)
    data = "navn;email;organisation;type;rolle\r\n"
    data += "Åse Ærø;ase@helsingor.dk;Politiet;Politi;medarbejder\r\n"
    assert fbh.participants.import_csv(ident, data.encode(), NOW) == (0, 1)
    (view,) = fbh.participants.list_participants(ident)
    assert (view.org, view.kind, view.role) == ("Politiet", "police", "employee")


def _everything(store: Store) -> str:
    """Every row of every table, as text."""
    meta = MetaData()
    meta.reflect(store.engine)
    out = []
    with store.engine.connect() as connection:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            for row in connection.execute(select(table)):
                out.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(out)


def test_forget_leaves_only_a_pseudonym(fbh: Fbh, store: Store) -> None:
    ident = create(fbh)
    fbh.participants.add(ident, ASE, NOW)
    fbh.participants.add(ident, BO, NOW)
    fbh.participants.answer(ident, ASE.email, "workshop", "accepted", NOW)
    with store.transaction() as tx:
        inbox_store.record_message(
            tx,
            InboxMessage(
                message_id="<1@helsingor.dk>", source_key="k", received=NOW, sender=ASE.email,
                subject="Svar: Workshop – Åse Ærø", kind="reply", state="set-aside",
                reason=f"{ASE.email} is not an attendee", programme_id=ident, processed_at=NOW,
            ),
        )  # fmt: skip
        inbox_store.add_bounce(
            tx,
            Bounce(
                email=ASE.email,
                bounced_message_id="<x@bl.dk>",
                programme_id=ident,
                at=NOW,
                report_message_id="<r@bl.dk>",
            ),
        )
    assert ASE.email in _everything(store) and "Åse Ærø" in _everything(store)

    found = fbh.participants.forget(ASE.email.upper(), NOW)
    assert found["participants"] == 1 and found["meeting_answers"] == 1
    assert found["bounces"] == 1 and found["inbox_messages"] == 1
    everything = _everything(store)
    assert ASE.email not in everything and "Åse Ærø" not in everything
    alias = pseudonym(ASE.email, store.installation().installation_id)
    with store.transaction() as tx:
        answer_events = [e for e in tx.events.find(event="answer")]
        assert answer_events and all(e.data["email"] == alias for e in answer_events)
        assert tx.events.find(event="forgotten")[0].data["person"] == alias
        assert inbox_store.seen(tx, "<1@helsingor.dk>") is not None  # never applied twice
    # the others are untouched, and the headcount counts one
    assert [v.email for v in fbh.participants.list_participants(ident)] == [BO.email]
    (headcount,) = pending(store, ident, "headcount")
    assert headcount.payload["context"]["counts"]["unanswered"] == 1
    with pytest.raises(ConflictError, match="hand the role over"):
        fbh.participants.forget(SOREN.email, NOW)


def test_remove_an_unknown_participant(fbh: Fbh) -> None:
    ident = create(fbh)
    with pytest.raises(NotFoundError):
        fbh.participants.remove(ident, "nobody@x.dk", NOW)


def test_a_pause_holds_the_reminder_and_headcount_and_a_resume_queues_them(
    fbh: Fbh, store: Store
) -> None:
    ident = create(fbh)
    fbh.participants.add(ident, ASE, NOW)
    fbh.pause(ident, NOW)
    assert not pending(store, ident, "participant_reminder")
    assert not pending(store, ident, "headcount")
    fbh.resume(ident, NOW + timedelta(days=1))
    assert [r.recipient for r in pending(store, ident, "participant_reminder")] == [ASE.email]
    assert len(pending(store, ident, "headcount")) == 1
