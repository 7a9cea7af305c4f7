"""The alarm of an outbox worker whose mail server rejects fbh's login (SMTP 535).

No message is at fault, so none spends an attempt (:mod:`notifications.outbox`); instead the
alarm is raised once: one ERROR line per process, and one ``auth-failed`` event (entity
``mail``) in the event log however many workers and tries see it, which ``fbh status`` and
the metric ``fbh_mail_auth_failing`` show. The first login that works lowers it again (an
``auth-ok`` event, a WARNING line).
"""

from __future__ import annotations

import logging
from datetime import datetime

from engine.domain.model import AUTH_FAILED_EVENT, AUTH_OK_EVENT, MAIL_ENTITY
from engine.store.abc import OutboxTx

log = logging.getLogger(__name__)


class AuthAlarm:
    """One worker's view of the alarm; the event log holds the alarm itself."""

    def __init__(self, worker_id: str, pause_seconds: float) -> None:
        self.worker_id = worker_id
        self.pause_seconds = pause_seconds
        self._standing: bool | None = None  # whether the alarm stands (None: not read yet)
        self._logged = False  # the ERROR line went out in this process

    def rejected(self, tx: OutboxTx, error: str, now: datetime) -> None:
        """The server rejected the login: raise the alarm unless it stands already."""
        if not self._stands(tx, fresh=True):
            tx.events.add(
                at=now,
                actor=self.worker_id,
                entity=MAIL_ENTITY,
                event=AUTH_FAILED_EVENT,
                data={"error": error},
            )
        if not self._logged:
            log.error(
                "ALARM: the mail server rejects fbh's login; sending is paused and every "
                "message stays pending (tried again every %.0f s; fix mail.smtp.username or "
                "FBH_SMTP_PASSWORD): %s",
                self.pause_seconds,
                error,
            )
        else:
            log.info("the mail server still rejects fbh's login: %s", error)
        self._standing, self._logged = True, True

    def accepted(self, tx: OutboxTx, now: datetime) -> None:
        """A message went out, so the login worked: lower a standing alarm."""
        if self._stands(tx, fresh=False):
            tx.events.add(at=now, actor=self.worker_id, entity=MAIL_ENTITY, event=AUTH_OK_EVENT)
            log.warning("the mail server accepts fbh's login again; sending resumed")
        self._standing, self._logged = False, False

    def _stands(self, tx: OutboxTx, *, fresh: bool) -> bool:
        """Whether the alarm stands, read from the event log the first time (an alarm
        raised before this worker started) and whenever ``fresh`` (another worker may have
        raised it meanwhile)."""
        if fresh or self._standing is None:
            latest = tx.events.latest(MAIL_ENTITY, (AUTH_FAILED_EVENT, AUTH_OK_EVENT))
            self._standing = latest is not None and latest.event == AUTH_FAILED_EVENT
        return self._standing
