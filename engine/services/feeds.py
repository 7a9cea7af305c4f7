"""The consultants' calendar feeds: tokens, and the calendar behind ``/feeds/{token}.ics``.

A feed shows every meeting a person was invited to, across programmes, as the latest invite
or cancellation queued for them says (same UID, SEQUENCE and times as the mail; see
``notifications.invites.build_feed``). A cancelled meeting stays in the feed with
``STATUS:CANCELLED`` for ``[http] feed_cancelled_days`` (30) after its cancellation, so a
subscribed calendar removes it, then drops out.

Tokens are 256 random bits (``secrets.token_urlsafe``), stored only as their SHA-256, and
checked with ``hmac.compare_digest``. ``issue`` adds a token (older ones stay valid);
``revoke`` revokes all of a person's tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.config.settings import Settings
from engine.domain.errors import NotFoundError
from engine.store.store import Store
from engine.store.tables import OutboxMessage, Person
from notifications.envelope import invite_spec
from notifications.invites import InviteSpec, build_feed

TOKEN_BYTES = 32  # 256 bits; secrets.token_urlsafe(32) has 43 characters
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
FEED_TTL = timedelta(hours=1)  # X-PUBLISHED-TTL: how often a calendar should fetch again
CALENDAR_NAME = "Fra bolig til hjem – {name}"


@dataclass(frozen=True)
class Feed:
    """One rendering of a person's feed."""

    body: bytes
    etag: str  # a strong entity tag, quoted
    meetings: int


def feed_path(token: str) -> str:
    return f"/feeds/{token}.ics"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class FeedService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.keep_cancelled = timedelta(days=settings.http.feed_cancelled_days)

    def issue(self, email: str, now: datetime) -> str:
        """A new token for the person with this address; returns the token."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.store.transaction() as tx:
            person = _person(tx.people.by_email(email), email)
            assert person.id is not None
            tx.feeds.add(person.id, token_hash(token), now)
        return token

    def revoke(self, email: str, now: datetime) -> int:
        """Revoke all of the person's tokens; returns how many were live."""
        with self.store.transaction() as tx:
            person = _person(tx.people.by_email(email), email)
            assert person.id is not None
            return tx.feeds.revoke(person.id, now)

    def for_token(self, token: str, now: datetime) -> Feed | None:
        """The feed of a live token, or None (unknown, revoked or malformed: all alike)."""
        if not TOKEN_RE.fullmatch(token):
            return None
        digest = token_hash(token)
        with self.store.transaction() as tx:
            found = tx.feeds.owner(digest)
            if found is None or not hmac.compare_digest(found[0], digest):
                return None
            person = found[1]
            rows = tx.feeds.invites_to(person.email)
        return self._render(person, rows, now)

    def for_email(self, email: str, now: datetime) -> Feed:
        """The feed of the person with this address (``fbh feed export``)."""
        with self.store.transaction() as tx:
            person = _person(tx.people.by_email(email), email)
            rows = tx.feeds.invites_to(person.email)
        return self._render(person, rows, now)

    def _render(self, person: Person, rows: list[OutboxMessage], now: datetime) -> Feed:
        specs = current_meetings(rows, now - self.keep_cancelled)
        body = build_feed(specs, name=CALENDAR_NAME.format(name=person.name), ttl=FEED_TTL)
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        return Feed(body=body, etag=etag, meetings=len(specs))


def current_meetings(rows: Iterable[OutboxMessage], cancelled_since: datetime) -> list[InviteSpec]:
    """Per meeting (UID), the latest invite or cancellation among ``rows``; a cancellation
    queued before ``cancelled_since`` drops the meeting. Sorted by start."""
    latest: dict[str, tuple[tuple[int, bool, int], OutboxMessage]] = {}
    for row in rows:
        invite = row.payload["invite"]
        rank = (int(invite["sequence"]), invite["method"] == "CANCEL", row.id or 0)
        known = latest.get(invite["uid"])
        if known is None or rank > known[0]:
            latest[invite["uid"]] = (rank, row)
    specs = [
        invite_spec(row)
        for _, row in latest.values()
        if not (row.payload["invite"]["method"] == "CANCEL" and row.created_at < cancelled_since)
    ]
    return sorted(specs, key=lambda spec: (spec.start, spec.uid))


def _person(person: Person | None, email: str) -> Person:
    if person is None:
        raise NotFoundError("person with e-mail", email.strip().lower())
    return person
