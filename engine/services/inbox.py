"""Inbound mail: one pass over the inbox, each message applied exactly once.

For each unmarked message: read it (bounded), and in one transaction record it in the inbox
ledger by Message-ID and apply it: an iTIP answer updates the attendee's answer, a request
becomes a ``received`` request with its acknowledgement, a bounce flags the address. After the
commit the message is marked in the mailbox. A crash before the commit applies nothing; a
crash after it leaves the mark for the next pass, which finds the Message-ID in the ledger and
only marks. What cannot be used is recorded as ``set-aside`` with its reason and kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from engine.config.settings import Settings
from engine.domain.errors import ConfigError, StoreError
from engine.domain.i18n import _
from engine.services.facade import Fbh
from engine.services.inbox_answers import apply_answer
from engine.services.inbox_bounces import apply_bounce
from engine.services.inbox_common import PROCESSED, SET_ASIDE, Outcome
from engine.services.inbox_requests import apply_request
from engine.store import inbox as inbox_store
from engine.store.inbox import InboxMessage
from engine.store.store import Tx
from notifications.inbound import InboundMail, Kind, Limits, Unparseable, classify
from notifications.inbound import parse_mail as parse_inbound
from notifications.inbound.message import synthetic_message_id
from notifications.mailboxes import Mailbox, MaildirMailbox, RawMessage

log = logging.getLogger(__name__)


def make_mailbox(settings: Settings) -> Mailbox:
    """The inbox the config names; the IMAP password comes only from the environment."""
    if settings.inbox.transport == "maildir":
        return MaildirMailbox(settings.resolve(settings.inbox.maildir))
    from notifications.mailboxes.imap import ImapMailbox  # imapclient: only for IMAP

    imap = settings.inbox.imap
    password = settings.imap_password
    if not imap.username or not password:
        raise ConfigError(
            _("inbox.imap needs username (config) and FBH_IMAP_PASSWORD (environment)")
        )
    return ImapMailbox(
        imap.host,
        imap.port,
        username=imap.username,
        password=password,
        folder=imap.folder,
        tls=imap.tls,
        starttls=imap.starttls,
        cafile=settings.resolve(imap.cafile).as_posix() if imap.cafile else None,
        validate_certs=imap.validate_certs,
        timeout=imap.timeout,
    )


@dataclass
class PassReport:
    processed: int = 0
    set_aside: int = 0
    already: int = 0  # found in the ledger: only marked now
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return self.processed + self.set_aside


class InboxDesk:
    """Reads the inbox for one :class:`~engine.services.programmes.Fbh`."""

    def __init__(self, fbh: Fbh) -> None:
        self.fbh = fbh
        self.settings = fbh.settings
        options = self.settings.inbox
        self.limits = Limits(max_bytes=options.max_bytes, max_parts=options.max_parts)
        self.own_addresses = frozenset(
            {self.settings.sender.email, self.settings.request_address.email}
        )

    def process(self, mailbox: Mailbox, now: datetime, *, limit: int | None = None) -> PassReport:
        """One pass: every unmarked message (up to ``limit``), each in its own transaction."""
        report = PassReport()
        for key in mailbox.pending(limit or self.settings.inbox.batch_size):
            raw = mailbox.fetch(key, self.limits.max_bytes)
            if raw is not None:
                self._one(mailbox, raw, now, report)
        return report

    def _one(self, mailbox: Mailbox, raw: RawMessage, now: datetime, report: PassReport) -> None:
        mail, problem = self._parse(raw)
        message_id = mail.message_id if mail else _raw_id(raw)
        try:
            found, fresh = self._record(raw, mail, message_id, problem, now)
        except StoreError:
            raise  # the database is away: the pass stops, the message stays unmarked
        except Exception as exc:  # a message that breaks fbh must not block the ones after it
            log.exception("inbox: %s could not be applied", message_id)
            problem = f"could not be applied: {type(exc).__name__}: {exc}"[:500]
            found, fresh = self._record(raw, None, message_id, problem, now)
        state = found.state
        if not fresh:
            report.already += 1
        elif state == PROCESSED:
            report.processed += 1
        else:
            report.set_aside += 1
        report.kinds[found.kind] = report.kinds.get(found.kind, 0) + 1
        if state == SET_ASIDE:
            log.warning("inbox: set aside %s: %s", message_id, found.reason)
            mailbox.set_aside(raw.key)
        else:
            mailbox.mark_processed(raw.key)

    def _record(
        self,
        raw: RawMessage,
        mail: InboundMail | None,
        message_id: str,
        problem: str,
        now: datetime,
    ) -> tuple[InboxMessage, bool]:
        """Apply and record the message in one transaction; returns its ledger row and whether
        this pass recorded it (False: an earlier pass did, and only the mark is missing)."""
        with self.fbh.store.transaction() as tx:
            found = inbox_store.seen(tx, message_id)
            if found is not None:
                return found, False
            outcome = self._apply(tx, mail, problem, now)
            row = self._ledger_row(raw, mail, outcome, now)
            row.message_id = message_id
            return inbox_store.record_message(tx, row), True

    def _parse(self, raw: RawMessage) -> tuple[InboundMail | None, str]:
        if not raw.data and raw.size > self.limits.max_bytes:
            return None, f"message is {raw.size} bytes; the limit is {self.limits.max_bytes}"
        try:
            return parse_inbound(raw.data, self.limits), ""
        except Unparseable as exc:
            return None, str(exc)

    def _ledger_row(
        self, raw: RawMessage, mail: InboundMail | None, outcome: Outcome, now: datetime
    ) -> InboxMessage:
        received = raw.received or now
        return InboxMessage(
            message_id=mail.message_id if mail else _raw_id(raw),
            source_key=raw.key[:300],
            received=received,
            sender=(mail.sender if mail else "")[:254],
            subject=(mail.subject if mail else "")[:300],
            kind=outcome.kind,
            state=outcome.state,
            reason=outcome.reason[:2000],
            programme_id=outcome.programme_id,
            request_id=outcome.request_id,
            processed_at=now,
        )

    # ----- applying one message ------------------------------------------------------------

    def _apply(self, tx: Tx, mail: InboundMail | None, problem: str, now: datetime) -> Outcome:
        if mail is None:
            return Outcome(Kind.UNKNOWN, SET_ASIDE, problem)
        found = classify(mail, frozenset({self.settings.request_address.email}))
        if not found.usable:
            return Outcome(found.kind, SET_ASIDE, found.reason)
        if found.kind == Kind.REPLY and found.itip is not None:
            return apply_answer(self.fbh, tx, mail, found.itip, now)
        if found.kind == Kind.BOUNCE and found.bounce is not None:
            return apply_bounce(self.fbh, tx, mail, found.bounce, now)
        if found.kind == Kind.REQUEST:
            return apply_request(self.fbh, self.own_addresses, tx, mail, now)
        return Outcome(
            found.kind, PROCESSED if found.kind == Kind.AUTO_REPLY else SET_ASIDE, found.reason
        )

    # ----- reading -----------------------------------------------------------------------------

    def list(self, *, limit: int = 1000) -> list[InboxMessage]:
        with self.fbh.store.transaction() as tx:
            return inbox_store.list_inbox(tx, limit=limit)


def inbox_json(row: InboxMessage) -> dict[str, object]:
    return {
        "message_id": row.message_id,
        "received": row.received.isoformat(),
        "kind": row.kind,
        "state": row.state,
        "reason": row.reason,
        "sender": row.sender,
        "subject": row.subject,
        "programme_id": row.programme_id,
        "request_id": row.request_id,
    }


def _raw_id(raw: RawMessage) -> str:
    if raw.data:
        return synthetic_message_id(raw.data)
    return synthetic_message_id(f"{raw.key}:{raw.size}".encode())
