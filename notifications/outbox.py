"""The outbox worker: claim due rows, render them, send them, record the outcome.

Guarantees (see docs/operations.md):

* A row is claimed with a conditional UPDATE (``pending`` → ``sending``) before it is sent, so
  two workers never send the same row at the same time.
* Transient failures (refused connection, timeout, 4xx) go back to ``pending`` with
  exponential backoff up to a cap; after ``max_attempts`` the row is ``failed``. Rows of a
  batch that were never tried, because the connection was lost before their turn, go back to
  ``pending`` at once without spending an attempt: a message that breaks the connection
  delays only itself.
* Permanent failures (5xx, a message that cannot be rendered) are ``failed`` at once, with the
  server's reply kept in ``last_error``. A message that ends ``failed`` (so also one out of
  attempts) is reported to the worker's ``on_failed`` hook in the same transaction: the
  daemon and the CLI tell the programme's consultant (engine/services/delivery_failures.py).
* An authentication failure (the server rejects fbh's login with a 5xx, e.g. 535) is about
  the configuration, not the messages: the batch goes back to ``pending`` without spending an
  attempt, the worker pauses for ``mail.auth_retry_seconds`` (:attr:`OutboxWorker.paused_until`)
  and raises one alarm: an ERROR log line and an ``auth-failed`` event (entity ``mail``), which
  ``fbh status`` and the metric ``fbh_mail_auth_failing`` show until a login succeeds again
  (an ``auth-ok`` event).
* A row's message is sent from the bytes rendered ahead and kept in the row when they are
  current, else rendered at send (:func:`envelope_of`; notifications/prerender.py).
* A worker that dies between sending and recording leaves the row in ``sending``; it is
  released and sent again later (at-least-once), with the same deterministic Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.config.settings import MailSection, Settings
from engine.domain import i18n
from engine.domain.errors import (
    ConfigError,
    SmtpAuthenticationError,
    StoreError,
    TransportError,
    UnavailableError,
)
from engine.domain.model import OutboxState
from engine.store.abc import Claimed, FailureHook, OutboxStore, OutboxTx
from notifications.auth_alarm import AuthAlarm
from notifications.envelope import envelope_of
from notifications.render import RenderError
from notifications.rendered import fingerprint
from notifications.report import SendReport
from notifications.transports import Envelope, MaildirTransport, SmtpTransport, Transport
from notifications.transports.null import NullTransport

log = logging.getLogger(__name__)

DEFAULT_STUCK_AFTER = timedelta(minutes=10)
# Rows claimed ahead are sent within this long of their claim, or given back unsent.
LEASE_FOR = timedelta(minutes=1)


def make_transport(settings: Settings) -> Transport:
    """The transport the config names; the SMTP password comes only from the environment."""
    if settings.mail.transport == "maildir":
        return MaildirTransport(settings.maildir_path, fsync=settings.mail.maildir_fsync)
    if settings.mail.transport == "null":
        return NullTransport()
    smtp = settings.mail.smtp
    password = settings.smtp_password
    if smtp.username and not password:
        raise ConfigError(i18n._("mail.smtp.username is set but FBH_SMTP_PASSWORD is not"))
    return SmtpTransport(
        smtp.host,
        smtp.port,
        starttls=smtp.starttls,
        use_tls=smtp.tls,
        username=smtp.username,
        password=password,
        timeout=smtp.timeout,
        validate_certs=smtp.validate_certs,
        connections=smtp.connections,
    )


@dataclass(frozen=True)
class _Outcome:
    """What becomes of one claimed row; a batch's outcomes are recorded in one transaction."""

    row: Claimed
    state: OutboxState  # sent, failed, or pending (a retry later, or untried)
    error: str | None
    next_attempt_at: datetime | None = None
    untried: bool = False  # never tried: back to pending now, without spending an attempt

    @property
    def is_plain_send(self) -> bool:
        """Sent with nothing to note: recorded with the others in one statement."""
        return self.state is OutboxState.SENT and self.error is None and not self.untried


class OutboxWorker:
    """Delivers due outbox rows through one transport."""

    def __init__(
        self,
        store: OutboxStore,
        transport: Transport,
        settings: Settings,
        *,
        worker_id: str,
        on_failed: FailureHook | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.settings = settings
        self.worker_id = worker_id
        self.on_failed = on_failed
        # After an authentication failure: no claims before this moment.
        self.paused_until: datetime | None = None
        self._auth_error: str | None = None  # of the batch being recorded
        self._alarm = AuthAlarm(worker_id, settings.mail.auth_retry_seconds)
        # After a database error (e.g. a PostgreSQL restart): outcomes not yet recorded, and
        # whether a claim of this worker may have been left behind. See recover().
        self._unrecorded: list[tuple[list[_Outcome], datetime]] = []
        self._unsure_claims = False
        # Claimed ahead (deliver_due's ``lease``): ``_next`` is the next batch, re-checked as
        # this worker's when the batch before it was recorded; ``_leased`` are not re-checked.
        self._next: list[Claimed] = []
        self._leased: list[Claimed] = []
        self._leased_at = datetime.min.replace(tzinfo=UTC)
        self._batch = 0

    async def deliver_due(
        self, now: datetime, *, limit: int | None = None, lease: int | None = None
    ) -> SendReport:
        """Deliver one batch of due rows, ``limit`` (``mail.batch_size``) of them.

        With ``lease`` above ``limit``, a claim takes up to ``lease`` rows and the calls after
        this one send the rest, a batch each. Each such batch is re-checked as still this
        worker's claim in the transaction that records the batch before it, so rows taken
        back meanwhile (the worker was frozen and taken for dead) are not sent. The caller
        gives back what is left unsent with :meth:`give_back`.
        """
        batch = self._batch = limit or self.settings.mail.batch_size
        report = SendReport()
        if self.paused_until is not None and now < self.paused_until:
            report.paused = True
            return report
        self.recover(now, report)
        rows, self._next = self._next, []
        try:
            if not rows:
                with self.store.transaction() as tx:
                    rows = self._take(tx, now) or self._claim(tx, now, max(batch, lease or 0))
        except StoreError:
            self._unsure_claims = True  # the claim may have committed without our knowing
            self._leased = []
            raise
        if not rows:
            return report
        outcomes: list[_Outcome] = []
        envelopes: list[tuple[Claimed, Envelope]] = []
        for row in rows:
            try:
                envelopes.append((row, envelope_of(row, self.settings, now)))
            except (RenderError, KeyError, ValueError, TypeError) as exc:
                outcomes.append(_Outcome(row, OutboxState.FAILED, f"cannot render: {exc}"))
        try:
            if envelopes:
                outcomes += await self._send(envelopes, now, report)
        finally:
            # Recorded even when the send is cancelled (a stop): rows that could not be
            # rendered must not stay claimed.
            self._record(outcomes, now, report)
        return report

    def _claim(self, tx: OutboxTx, now: datetime, count: int) -> list[Claimed]:
        """Claim up to ``count`` due rows: this batch, and the rest leased for the next."""
        claimed = tx.outbox.claim_due(
            now, self.worker_id, count, current=fingerprint(self.settings)
        )
        rows, self._leased = claimed[: self._batch], claimed[self._batch :]
        self._leased_at = now
        return rows

    def _take(self, tx: OutboxTx, now: datetime) -> list[Claimed]:
        """The next batch of the leased rows that are still this worker's claims. A lease
        older than :data:`LEASE_FOR` is given back instead: a claim is at most that old when
        its row is sent, well within the age at which claims count as stuck."""
        if self._leased and now - self._leased_at > LEASE_FOR:
            tx.outbox.give_back([r.id for r in self._leased], self.worker_id)
            self._leased = []
        while self._leased:
            chunk, self._leased = self._leased[: self._batch], self._leased[self._batch :]
            kept = tx.outbox.still_claimed([r.id for r in chunk], self.worker_id)
            if len(kept) < len(chunk):
                log.warning("%d claim(s) were taken back before sending", len(chunk) - len(kept))
            rows = [row for row in chunk if row.id in kept]
            if rows:
                return rows
        return []

    def give_back(self) -> int:
        """Return the rows claimed ahead and not sent (a pass that ends early) to
        ``pending``, without spending an attempt; returns how many."""
        rows, self._next, self._leased = self._next + self._leased, [], []
        if not rows:
            return 0
        try:
            with self.store.transaction() as tx:
                return tx.outbox.give_back([r.id for r in rows], self.worker_id)
        except StoreError:
            self._unsure_claims = True  # recover() gives back every claim of this worker
            raise

    async def _send(
        self, envelopes: list[tuple[Claimed, Envelope]], now: datetime, report: SendReport
    ) -> list[_Outcome]:
        try:
            results = await self.transport.send_batch([e for _, e in envelopes])
        except SmtpAuthenticationError as exc:
            # No message is at fault: none spends an attempt; sending pauses (see recording).
            report.auth_failed = self._auth_error = str(exc)
            pause = timedelta(seconds=self.settings.mail.auth_retry_seconds)
            self.paused_until = now + pause
            return [
                _Outcome(row, OutboxState.PENDING, str(exc), untried=True) for row, _ in envelopes
            ]
        except TransportError as exc:
            # Nothing was sent: even a permanent reason (a rejected password) is about the
            # server or the config, not these messages, so they all wait for a retry.
            log.error("transport failed before sending a batch of %d: %s", len(envelopes), exc)
            if isinstance(exc, UnavailableError):
                report.unreachable = report.unreachable or str(exc)
            transient = TransportError(str(exc), permanent=False, code=exc.code)
            mail = self.settings.mail
            return [_failed(row, transient, now, mail, report) for row, _ in envelopes]
        outcomes = []
        for (row, _), result in zip(envelopes, results, strict=True):
            if result.ok:
                note = _rejected_note(result.rejected)
                outcomes.append(_Outcome(row, OutboxState.SENT, note))
            elif not result.attempted:
                error = str(result.error)
                outcomes.append(_Outcome(row, OutboxState.PENDING, error, untried=True))
            else:
                assert result.error is not None
                outcomes.append(_failed(row, result.error, now, self.settings.mail, report))
        return outcomes

    def recover(self, now: datetime, report: SendReport | None = None) -> None:
        """Put right what a database error left behind, before a new claim (when nothing of
        this worker is in flight): record the outcomes it kept from being recorded, so a
        message the server accepted is marked sent instead of being sent again; then give
        back any other claim of this worker (a claim whose commit went unconfirmed was never
        sent). Raises StoreError while the database is still away, keeping what is left."""
        report = report if report is not None else SendReport()
        while self._unrecorded:
            outcomes, when = self._unrecorded[0]
            self._write(outcomes, when, report)
            self._unrecorded.pop(0)
            log.warning(
                "recorded the outcome of %d message(s) after a database error", len(outcomes)
            )
        if self._unsure_claims:
            with self.store.transaction() as tx:
                released = tx.outbox.release_claims(self.worker_id, now)
            self._unsure_claims = False
            if released:
                log.warning("gave back %d unsent claim(s) after a database error", released)

    def _record(self, outcomes: list[_Outcome], now: datetime, report: SendReport) -> None:
        """Record a batch's outcomes, and take the next leased batch in the same transaction;
        kept for :meth:`recover` if the database fails."""
        try:
            self._write(outcomes, now, report, take_next=True)
        except StoreError:
            self._unrecorded.append((outcomes, now))
            if self._next or self._leased:  # given back by recover(), with every claim
                self._next, self._leased, self._unsure_claims = [], [], True
            raise

    def _write(
        self,
        outcomes: list[_Outcome],
        now: datetime,
        report: SendReport,
        *,
        take_next: bool = False,
    ) -> None:
        """Record a batch's outcomes in one transaction (one commit per batch, not per
        message), then count and log them."""
        if not outcomes:
            return
        auth_error, self._auth_error = self._auth_error, None
        with self.store.transaction() as tx:
            plain = [o.row.id for o in outcomes if o.is_plain_send]
            sent = tx.outbox.finish_sent(plain, self.worker_id, now) if plain else set()
            kept = [
                o.row.id in sent if o.is_plain_send else self._apply(tx, o, now) for o in outcomes
            ]
            if auth_error is not None:
                self._alarm.rejected(tx, auth_error, now)
            elif any(o.state is OutboxState.SENT for o in outcomes):
                self._alarm.accepted(tx, now)
                self.paused_until = None
            if take_next:
                self._next = self._take(tx, now)
        for outcome, was_kept in zip(outcomes, kept, strict=True):
            row = outcome.row
            if not was_kept:
                report.lost_claims += 1
                log.warning(
                    "outbox row %s was reclaimed by another worker before it finished", row.id
                )
            elif outcome.untried:
                report.untried += 1
            elif outcome.state is OutboxState.SENT:
                report.sent += 1
            elif outcome.state is OutboxState.FAILED:
                report.failed += 1
                log.error("outbox row %s to %s failed: %s", row.id, row.recipient, outcome.error)
            else:
                report.retried += 1

    def _apply(self, tx: OutboxTx, outcome: _Outcome, now: datetime) -> bool:
        """Write one outcome; False if the claim was lost meanwhile."""
        row = outcome.row
        if outcome.untried:
            return tx.outbox.unclaim(row.id, self.worker_id, now, outcome.error or "")
        kept = tx.outbox.finish_claim(
            row.id,
            self.worker_id,
            state=outcome.state,
            now=now,
            error=outcome.error,
            next_attempt_at=outcome.next_attempt_at,
        )
        if kept and outcome.state is OutboxState.FAILED:
            whole = tx.outbox.message(row.id)  # a claim reads only what sending needs
            tx.events.add(
                at=now,
                actor=self.worker_id,
                entity="outbox",
                entity_id=row.id,
                programme_id=row.programme_id,
                event="failed",
                from_state="sending",
                to_state="failed",
                data={"recipient": row.recipient, "error": outcome.error},
            )
            if self.on_failed is not None:
                self.on_failed(tx, whole, outcome.error or "", now)
        return kept

    async def drain(
        self,
        clock: Callable[[], datetime],
        *,
        max_batches: int = 10_000,
        on_batch: Callable[[SendReport], None] | None = None,
    ) -> SendReport:
        """Deliver everything due now, batch after batch, then stop; ``on_batch`` is given
        the running total after each batch (a progress bar).

        A row that is retried gets a later ``next_attempt_at``, so it is not due again in the
        same drain: the loop ends.
        """
        total = SendReport()
        async with self.transport.session():  # SMTP: connections kept open between batches
            for _ in range(max_batches):
                report = await self.deliver_due(clock())
                total.add(report)
                if on_batch is not None:
                    on_batch(total)
                if report.claimed == 0:
                    break
                if report.stalled or report.auth_failed:
                    break  # the transport is down, or refuses fbh: stop hammering it
        return total

    def release_stuck(self, now: datetime, older_than: timedelta = DEFAULT_STUCK_AFTER) -> int:
        with self.store.transaction() as tx:
            released = tx.outbox.release_stuck(now, older_than)
        for ident, worker in released:
            log.warning(
                "outbox row %s was stuck in sending (%s); it will be sent again", ident, worker
            )
        return len(released)


def backoff(mail: MailSection, attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1``: base · 2^(attempts−1), capped."""
    seconds = min(mail.retry_cap_seconds, mail.retry_base_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds)


def _failed(
    row: Claimed, error: TransportError, now: datetime, mail: MailSection, report: SendReport
) -> _Outcome:
    """What becomes of a row its transport could not deliver: failed, or tried again later."""
    text = str(error)
    report.errors.append(text)
    if error.permanent:
        return _Outcome(row, OutboxState.FAILED, text)
    if row.attempts >= mail.max_attempts:
        return _Outcome(row, OutboxState.FAILED, f"gave up after {row.attempts} attempts: {text}")
    retry_at = now + backoff(mail, row.attempts)
    return _Outcome(row, OutboxState.PENDING, text, next_attempt_at=retry_at)


def _rejected_note(rejected: tuple[tuple[str, TransportError], ...]) -> str | None:
    if not rejected:
        return None
    return "; ".join(f"{address}: {error}" for address, error in rejected)
