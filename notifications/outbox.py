"""The outbox worker: claim due rows, render them, send them, record the outcome.

Guarantees (see docs/operations.md):

* A row is claimed with a conditional UPDATE (``pending`` → ``sending``) before it is sent, so
  two workers never send the same row at the same time.
* Transient failures (refused connection, timeout, 4xx) go back to ``pending`` with
  exponential backoff up to a cap; after ``max_attempts`` the row is ``failed``.
* Permanent failures (5xx, a message that cannot be rendered) are ``failed`` at once, with the
  server's reply kept in ``last_error``.
* A worker that dies between sending and recording leaves the row in ``sending``; it is
  released and sent again later (at-least-once), with the same deterministic Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from engine.config import Settings
from engine.domain import Contact, OutboxState
from engine.errors import ConfigError, TransportError
from engine.store.store import OutboxMessage, Store
from notifications.invites import InviteSpec, build_calendar
from notifications.mime import MailSpec, build_message, to_bytes
from notifications.render import RenderError, render_mail
from notifications.transports import Envelope, MaildirTransport, SmtpTransport, Transport

log = logging.getLogger(__name__)

_DATETIME_KEYS = frozenset({"start", "end"})
_DATE_KEYS = frozenset(
    {"window_start", "window_end", "received", "deadline", "wished_start", "start_date", "end_date"}
)
DEFAULT_STUCK_AFTER = timedelta(minutes=10)


@dataclass
class SendReport:
    """What one delivery run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_claims: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.lost_claims += other.lost_claims
        self.errors += other.errors

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.lost_claims


def make_transport(settings: Settings) -> Transport:
    """The transport the config names; the SMTP password comes only from the environment."""
    if settings.mail.transport == "maildir":
        return MaildirTransport(settings.maildir_path)
    smtp = settings.mail.smtp
    password = settings.smtp_password
    if smtp.username and not password:
        raise ConfigError("mail.smtp.username is set but FBH_SMTP_PASSWORD is not")
    return SmtpTransport(
        smtp.host,
        smtp.port,
        starttls=smtp.starttls,
        use_tls=smtp.tls,
        username=smtp.username,
        password=password,
        timeout=smtp.timeout,
        validate_certs=smtp.validate_certs,
    )


def revive(value: Any, key: str | None = None) -> Any:
    """Turn the ISO strings of a stored payload back into dates and datetimes."""
    if isinstance(value, dict):
        return {k: revive(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    if isinstance(value, str) and key in _DATETIME_KEYS:
        return datetime.fromisoformat(value)
    if isinstance(value, str) and key in _DATE_KEYS:
        return date.fromisoformat(value)
    return value


def render_envelope(row: OutboxMessage, settings: Settings, now: datetime) -> Envelope:
    """Build the wire message of an outbox row from its payload alone."""
    payload = row.payload
    context = revive(payload["context"])
    rendered = render_mail(payload["template"], context)
    recipient = Contact(payload["to"]["name"], payload["to"]["email"])
    calendar, method = None, None
    if "invite" in payload:
        invite = revive(payload["invite"])
        method = invite["method"]
        calendar = build_calendar(
            InviteSpec(
                uid=invite["uid"],
                sequence=invite["sequence"],
                method=method,
                summary=invite["summary"],
                description=invite["description"],
                location=invite["location"],
                start=invite["start"],
                end=invite["end"],
                organizer=Contact(invite["organizer"]["name"], invite["organizer"]["email"]),
                attendees=tuple(Contact(a["name"], a["email"]) for a in invite["attendees"]),
                dtstamp=row.created_at,
            )
        )
    message = build_message(
        MailSpec(
            sender=settings.sender,
            to=(recipient,),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=row.message_id,
            date=now,
            calendar=calendar,
            calendar_method=method,
            headers=(("X-Fbh-Kind", row.kind),),
        )
    )
    return Envelope(
        message_id=row.message_id,
        sender=settings.sender.email,
        recipients=(recipient.email,),
        data=to_bytes(message),
    )


class OutboxWorker:
    """Delivers due outbox rows through one transport."""

    def __init__(
        self, store: Store, transport: Transport, settings: Settings, *, worker_id: str
    ) -> None:
        self.store = store
        self.transport = transport
        self.settings = settings
        self.worker_id = worker_id

    def backoff(self, attempts: int) -> timedelta:
        """Delay before attempt ``attempts + 1``: base · 2^(attempts−1), capped."""
        mail = self.settings.mail
        seconds = min(mail.retry_cap_seconds, mail.retry_base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=seconds)

    async def deliver_due(self, now: datetime, *, limit: int | None = None) -> SendReport:
        """Claim one batch of due rows and deliver it."""
        batch = limit or self.settings.mail.batch_size
        with self.store.transaction() as tx:
            rows = tx.claim_due(now, self.worker_id, batch)
        report = SendReport()
        if not rows:
            return report
        envelopes: list[tuple[OutboxMessage, Envelope]] = []
        for row in rows:
            try:
                envelopes.append((row, render_envelope(row, self.settings, now)))
            except (RenderError, KeyError, ValueError, TypeError) as exc:
                self._finish(row, OutboxState.FAILED, now, f"cannot render: {exc}", report)
        if envelopes:
            await self._send(envelopes, now, report)
        return report

    async def _send(
        self, envelopes: list[tuple[OutboxMessage, Envelope]], now: datetime, report: SendReport
    ) -> None:
        try:
            results = await self.transport.send_batch([e for _, e in envelopes])
        except TransportError as exc:
            # Nothing was sent: even a permanent reason (a rejected password) is about the
            # server or the config, not these messages, so they all wait for a retry.
            log.error("transport failed before sending a batch of %d: %s", len(envelopes), exc)
            transient = TransportError(str(exc), permanent=False, code=exc.code)
            for row, _ in envelopes:
                self._failed(row, transient, now, report)
            return
        for (row, _), result in zip(envelopes, results, strict=True):
            if result.ok:
                self._finish(row, OutboxState.SENT, now, _rejected_note(result.rejected), report)
            else:
                assert result.error is not None
                self._failed(row, result.error, now, report)

    def _failed(
        self, row: OutboxMessage, error: TransportError, now: datetime, report: SendReport
    ) -> None:
        text = str(error)
        report.errors.append(text)
        if error.permanent:
            self._finish(row, OutboxState.FAILED, now, text, report)
        elif row.attempts >= self.settings.mail.max_attempts:
            self._finish(
                row,
                OutboxState.FAILED,
                now,
                f"gave up after {row.attempts} attempts: {text}",
                report,
            )
        else:
            retry_at = now + self.backoff(row.attempts)
            self._finish(row, OutboxState.PENDING, now, text, report, next_attempt_at=retry_at)

    def _finish(
        self,
        row: OutboxMessage,
        state: OutboxState,
        now: datetime,
        error: str | None,
        report: SendReport,
        *,
        next_attempt_at: datetime | None = None,
    ) -> None:
        assert row.id is not None
        with self.store.transaction() as tx:
            kept = tx.finish_claim(
                row.id,
                self.worker_id,
                state=state,
                now=now,
                error=error,
                next_attempt_at=next_attempt_at,
            )
            if kept and state is OutboxState.FAILED:
                tx.add_event(
                    at=now,
                    actor=self.worker_id,
                    entity="outbox",
                    entity_id=row.id,
                    programme_id=row.programme_id,
                    event="failed",
                    from_state="sending",
                    to_state="failed",
                    data={"recipient": row.recipient, "error": error},
                )
        if not kept:
            report.lost_claims += 1
            log.warning("outbox row %s was reclaimed by another worker before it finished", row.id)
        elif state is OutboxState.SENT:
            report.sent += 1
        elif state is OutboxState.FAILED:
            report.failed += 1
            log.error("outbox row %s to %s failed: %s", row.id, row.recipient, error)
        else:
            report.retried += 1

    async def drain(
        self, clock: Callable[[], datetime], *, max_batches: int = 10_000
    ) -> SendReport:
        """Deliver everything due now, batch after batch, then stop.

        A row that is retried gets a later ``next_attempt_at``, so it is not due again in the
        same drain: the loop ends.
        """
        total = SendReport()
        for _ in range(max_batches):
            report = await self.deliver_due(clock())
            total.add(report)
            if report.claimed == 0:
                break
            if report.retried and not report.sent:
                break  # the transport is down: stop hammering it
        return total

    def release_stuck(self, now: datetime, older_than: timedelta = DEFAULT_STUCK_AFTER) -> int:
        with self.store.transaction() as tx:
            released = tx.release_stuck(now, older_than)
        for row in released:
            log.warning(
                "outbox row %s was stuck in sending (%s); it will be sent again",
                row.id,
                row.claimed_by,
            )
        return len(released)


def _rejected_note(rejected: tuple[tuple[str, TransportError], ...]) -> str | None:
    if not rejected:
        return None
    return "; ".join(f"{address}: {error}" for address, error in rejected)
