"""The tovholder's private page (``/p/{token}``): its tokens, links and CSRF tokens.

A token is 256 random bits (``secrets.token_urlsafe``), issued to the programme's tovholder,
and stored only as its SHA-256; a lookup is by hash, and the found hash is compared again with
``hmac.compare_digest``. A token works while it is not revoked and its person is still the
programme's tovholder (a handover makes the old tovholder's links dead even before
:func:`revoke_page_tokens` runs).

Tokens are issued by ``fbh programme link`` (source ``cli``), for the summary mail of a new
programme (``summary``) and for the weekly reminder (``weekly``); older tokens stay valid until
revoked. ``fbh programme link ID --revoke`` and the handover of the tovholder role revoke all
of a programme's tokens.

Every form on the page carries a CSRF token: HMAC-SHA256 of the page token's hash under the
installation's key (``FBH_PAGE_SECRET`` in the environment, else the random key migration 0008
stored in table ``page_secret``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.config.settings import Settings
from engine.domain.errors import InvalidInputError
from engine.domain.i18n import _
from engine.domain.model import ProgrammeState
from engine.services.context import ServiceContext
from engine.store.store import Store, Tx

TOKEN_BYTES = 32  # 256 bits; secrets.token_urlsafe(32) has 43 characters
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
SECRET_ENV = "FBH_PAGE_SECRET"
SOURCES = ("cli", "summary", "weekly")


@dataclass(frozen=True)
class PageAccess:
    """A live token: whose page it opens."""

    programme_id: int
    person_id: int
    token_hash: str


def page_path(token: str) -> str:
    return f"/p/{token}"


def page_url(settings: Settings, token: str) -> str:
    """The page's full URL with ``[http] public_url``, else its path."""
    base = settings.http.public_url
    return f"{base}{page_path(token)}" if base else page_path(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_row(
    programme_id: int, person_id: int, token: str, source: str, now: datetime
) -> dict[str, Any]:
    """A ``page_tokens`` row for a bulk insert (new programmes)."""
    return {
        "programme_id": programme_id,
        "person_id": person_id,
        "token_hash": token_hash(token),
        "source": source,
        "created_at": now,
        "revoked_at": None,
    }


def add_token(tx: Tx, programme_id: int, person_id: int, source: str, now: datetime) -> str:
    """A new token for the programme's tovholder, inside ``tx``; returns the token."""
    token = new_token()
    tx.pages.add(programme_id, person_id, token_hash(token), source, now)
    return token


def revoke_page_tokens(tx: Tx, programme_id: int, now: datetime, *, actor: str) -> int:
    """Revoke every live page token of the programme inside ``tx`` (the handover of the
    tovholder role calls this); returns how many were live, and records it as an event."""
    revoked = tx.pages.revoke(programme_id, now)
    tx.events.add(
        at=now,
        actor=actor,
        entity="programme",
        entity_id=programme_id,
        programme_id=programme_id,
        event="page-revoke",
        data={"revoked": revoked},
    )
    return revoked


def issue_link(fbh: ServiceContext, programme_id: int, now: datetime) -> str:
    """A new token for the tovholder's page of the programme (``fbh programme link``)."""
    with fbh.store.transaction() as tx:
        programme = tx.programmes.get(programme_id)
        if programme.state == ProgrammeState.CANCELLED.value:
            raise InvalidInputError(
                _("programme {id} is cancelled: it has no tovholder page").format(id=programme_id)
            )
        token = add_token(tx, programme_id, programme.tovholder_id, "cli", now)
        tx.events.add(
            at=now,
            actor=fbh.actor,
            entity="programme",
            entity_id=programme_id,
            programme_id=programme_id,
            event="page-link",
            data={"source": "cli"},
        )
    return token


def revoke_links(fbh: ServiceContext, programme_id: int, now: datetime) -> int:
    """Revoke all of the programme's page tokens (``fbh programme link ID --revoke``)."""
    with fbh.store.transaction() as tx:
        tx.programmes.get(programme_id)
        return revoke_page_tokens(tx, programme_id, now, actor=fbh.actor)


def resolve(tx: Tx, token: str) -> PageAccess | None:
    """The page a token opens, or None: malformed, unknown, revoked, or issued to someone who
    is no longer the programme's tovholder (all alike)."""
    if not TOKEN_RE.fullmatch(token):
        return None
    digest = token_hash(token)
    found = tx.pages.live(digest)
    if found is None or not hmac.compare_digest(found.token_hash, digest):
        return None
    programme = tx.programmes.get(found.programme_id)
    if programme.tovholder_id != found.person_id:
        return None
    return PageAccess(found.programme_id, found.person_id, found.token_hash)


class CsrfKeys:
    """Signs and checks the page's CSRF tokens with the installation's key."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            text = os.environ.get(SECRET_ENV, "")
            if not text:
                with self.store.transaction() as tx:
                    text = tx.pages.secret()
            if not text:
                raise InvalidInputError(_("no key for the page's CSRF tokens (migration 0008)"))
            self._key = text.encode("utf-8")
        return self._key

    def token(self, access: PageAccess) -> str:
        message = f"csrf:{access.token_hash}".encode("ascii")
        return hmac.new(self.key(), message, hashlib.sha256).hexdigest()

    def check(self, access: PageAccess, given: str) -> bool:
        return hmac.compare_digest(self.token(access), given.encode("ascii", "replace").decode())
