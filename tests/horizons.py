"""Set-up shared by the rolling-horizon tests (tests/integration/test_horizon.py for reminders
and task notices, test_checkin_horizon.py for check-ins)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAYS = 14  # the default of mail.queue_ahead_days


def new(org: str, consultant: str = "anne") -> NewProgramme:
    return NewProgramme(
        workflow="socialt-beredskab",
        organisation=org,
        municipality="Helsingør",
        consultant=Contact(consultant.title(), f"{consultant}@bl.dk"),
        tovholder=Contact("Tovholder", f"tovholder@{org.lower()}.dk"),
        start=date(2027, 1, 4),
    )


def widened(fbh: Fbh) -> Fbh:
    """fbh on the same store, queueing all timed mail at once (as before the horizon)."""
    mail = fbh.settings.mail.model_copy(update={"queue_ahead_days": 3660})
    settings = fbh.settings.model_copy(update={"mail": mail})
    return Fbh(settings, fbh.store, fbh.registry, actor=fbh.actor)
