"""The consultants' calendar feeds against real databases (SQLite file and PostgreSQL):
tokens stored hashed and revocable, and a feed that agrees with the invites delivered."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlmodel import select

from engine.config.http import HttpSection
from engine.config.settings import Settings
from engine.domain.errors import NotFoundError
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.feeds import FeedService, feed_path
from engine.store.store import Store
from engine.store.tables import FeedToken
from notifications.outbox import OutboxWorker
from notifications.transports import MaildirTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
BO = Contact("Bo Konsulent", "bo@bl.dk")


def new(org: str, consultant: Contact, start: date) -> NewProgramme:
    return NewProgramme(
        workflow="socialt-beredskab",
        organisation=org,
        municipality="Helsingør",
        consultant=consultant,
        tovholder=Contact("Søren Tovholder", f"tovholder@{org.lower()}.dk"),
        start=start,
    )


@pytest.fixture
def feeds(store: Store, settings: Settings) -> FeedService:
    return FeedService(store, settings)


async def deliver(fbh: Fbh, settings: Settings, now: datetime) -> int:
    worker = OutboxWorker(
        fbh.store, MaildirTransport(settings.maildir_path), settings, worker_id="test"
    )
    report = await worker.deliver_due(now)
    return report.sent


WORKSHOP = "socialt-beredskab-workshop@bl.dk"


def programme_of(uid: str) -> int:
    """The programme id in a meeting UID (``fbh-[installation-]ID-workflow-key@domain``; the
    installation id is 16 hex digits, engine/domain/identity.py, and may be all decimal)."""
    found = UID.fullmatch(uid)
    assert found is not None, uid
    return int(found["programme"])


UID = re.compile(r"fbh-(?:[0-9a-f]{16}-)?(?P<programme>[0-9]+)-[a-z0-9-]+@[^@]+")


def vevents(body: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(body)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def mailed_invites(maildir: Path, recipient: str) -> Iterator[Any]:
    """The VEVENT of every invite mailed to ``recipient``."""
    for path in sorted((maildir / "new").glob("*")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["To"]).find(recipient) < 0:
            continue
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                yield from Calendar.from_ical(payload).walk("VEVENT")


# ----- tokens --------------------------------------------------------------------------------


def test_tokens_are_random_stored_hashed_and_all_valid_until_revoked(
    fbh: Fbh, feeds: FeedService, store: Store
) -> None:
    fbh.create_programme(new("Oestervang", ANNE, date(2027, 1, 4)), NOW)
    first, second = feeds.issue("anne@bl.dk", NOW), feeds.issue("ANNE@bl.dk", NOW)

    assert first != second and len(first) == len(second) == 43  # 256 bits, URL-safe base64
    assert feed_path(first) == f"/feeds/{first}.ics"
    with store.transaction() as tx:
        stored = [row.token_hash for row in tx.session.exec(select(FeedToken))]
    assert sorted(stored) == sorted(hashlib.sha256(t.encode()).hexdigest() for t in (first, second))
    assert first not in stored and second not in stored
    assert feeds.for_token(first, NOW) is not None
    assert feeds.for_token(second, NOW) is not None

    assert feeds.revoke("anne@bl.dk", NOW) == 2
    assert feeds.for_token(first, NOW) is None
    assert feeds.for_token(second, NOW) is None
    assert feeds.revoke("anne@bl.dk", NOW) == 0
    third = feeds.issue("anne@bl.dk", NOW)
    assert feeds.for_token(third, NOW) is not None


@pytest.mark.parametrize(
    "token",
    ["", "x", "A" * 43, "A" * 42 + "/", "../../etc/passwd", "A" * 44, "ÆØÅ" + "A" * 40],
)
def test_unknown_and_malformed_tokens_find_nothing(
    fbh: Fbh, feeds: FeedService, token: str
) -> None:
    fbh.create_programme(new("Oestervang", ANNE, date(2027, 1, 4)), NOW)
    feeds.issue("anne@bl.dk", NOW)

    assert feeds.for_token(token, NOW) is None


def test_a_token_for_an_unknown_person_is_refused(feeds: FeedService) -> None:
    with pytest.raises(NotFoundError, match=r"nobody@bl\.dk"):
        feeds.issue("nobody@bl.dk", NOW)


# ----- the calendar --------------------------------------------------------------------------


async def test_the_feed_has_the_consultants_meetings_as_the_invites_delivered_say(
    fbh: Fbh, feeds: FeedService, settings: Settings
) -> None:
    east = fbh.create_programme(new("Oestervang", ANNE, date(2027, 1, 4)), NOW)
    west = fbh.create_programme(new("Vestbo", ANNE, date(2027, 2, 1)), NOW)
    fbh.create_programme(new("Nordbo", BO, date(2027, 1, 4)), NOW)
    assert await deliver(fbh, settings, NOW) > 0
    moved = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)
    fbh.reschedule(east.id, "workshop", moved, NOW + timedelta(minutes=5))
    later = NOW + timedelta(minutes=10)
    assert await deliver(fbh, settings, later) > 0

    feed = feeds.for_email("anne@bl.dk", later)
    events = vevents(feed.body)

    assert feed.meetings == len(events) == 8  # 4 meetings in each of Anne's programmes
    assert {programme_of(uid) for uid in events} == {east.id, west.id}
    [workshop] = [e for uid, e in events.items() if uid.endswith(f"-{east.id}-{WORKSHOP}")]
    assert workshop["DTSTART"].dt == moved
    assert int(workshop["SEQUENCE"]) == 1
    latest: dict[str, Any] = {}
    for invite in mailed_invites(settings.maildir_path, "anne@bl.dk"):
        uid = str(invite["UID"])  # the highest SEQUENCE wins (file names do not sort by time)
        if uid not in latest or int(invite["SEQUENCE"]) > int(latest[uid]["SEQUENCE"]):
            latest[uid] = invite
    assert set(latest) == set(events)
    for uid, invite in latest.items():
        shown = events[uid]
        assert shown["DTSTART"].dt == invite["DTSTART"].dt, uid
        assert shown["DTEND"].dt == invite["DTEND"].dt, uid
        assert int(shown["SEQUENCE"]) == int(invite["SEQUENCE"]), uid
        assert shown["DTSTAMP"].dt == invite["DTSTAMP"].dt, uid
        assert str(shown["STATUS"]) == str(invite["STATUS"]) == "CONFIRMED"
        assert "ATTENDEE" not in shown  # a PUBLISH has none (RFC 5546 §3.2.1)
    calendar = Calendar.from_ical(feed.body)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "Fra bolig til hjem – Anne Konsulent"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Copenhagen"]
    starts = [e["DTSTART"].dt for e in calendar.walk("VEVENT")]
    assert starts == sorted(starts)


async def test_cancelled_meetings_show_as_cancelled_for_a_while_then_drop_out(
    fbh: Fbh, store: Store, settings: Settings
) -> None:
    feeds = FeedService(
        store, settings.model_copy(update={"http": HttpSection(feed_cancelled_days=30)})
    )
    kept = fbh.create_programme(new("Oestervang", ANNE, date(2027, 1, 4)), NOW)
    gone = fbh.create_programme(new("Vestbo", ANNE, date(2027, 2, 1)), NOW)
    await deliver(fbh, settings, NOW)
    cancelled_at = NOW + timedelta(days=1)
    fbh.cancel(gone.id, cancelled_at)

    soon = vevents(feeds.for_email("anne@bl.dk", cancelled_at + timedelta(days=29)).body)
    status = {uid: str(e["STATUS"]) for uid, e in soon.items()}
    assert {s for uid, s in status.items() if programme_of(uid) == gone.id} == {"CANCELLED"}
    assert {s for uid, s in status.items() if programme_of(uid) == kept.id} == {"CONFIRMED"}
    assert all(int(e["SEQUENCE"]) == 1 for uid, e in soon.items() if programme_of(uid) == gone.id)

    after = vevents(feeds.for_email("anne@bl.dk", cancelled_at + timedelta(days=31)).body)
    assert len(after) == 4
    assert all(programme_of(uid) == kept.id for uid in after)


def test_the_etag_follows_the_content(fbh: Fbh, feeds: FeedService) -> None:
    view = fbh.create_programme(new("Oestervang", ANNE, date(2027, 1, 4)), NOW)
    token = feeds.issue("anne@bl.dk", NOW)
    before = feeds.for_token(token, NOW)
    again = feeds.for_token(token, NOW)
    fbh.reschedule(view.id, "workshop", datetime(2027, 3, 10, 10, tzinfo=UTC), NOW)
    after = feeds.for_token(token, NOW)

    assert before is not None and again is not None and after is not None
    assert before.etag == again.etag and before.body == again.body
    assert after.etag != before.etag
    assert before.etag.startswith('"') and before.etag.endswith('"')
