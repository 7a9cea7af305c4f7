"""The weekly reminder to each tovholder: where the programme stands, the hours against the
budget, what is next, and a fresh link to the tovholder's private page.

The daemon's weekly job (engine/daemon/jobs.py) runs it beside the digests, at the ``[digest]``
time. It needs ``[http] public_url`` (a mail needs the page's full URL): without it nothing is
queued. Each reminder has a dedupe key per programme, tovholder and ISO week
(``tovholder-week:{id}:{email}:{YYYY}-W{WW}``), so a week's reminder is queued once; its page
token (source ``weekly``) is stored only when the mail is queued.
"""

from __future__ import annotations

from datetime import datetime

from engine.domain.digest import iso_week_label
from engine.domain.model import ProgrammeState
from engine.services.digests import programme_digest
from engine.services.facade import Fbh
from engine.services.pages import new_token, page_url, token_hash
from notifications.compose import mail_draft
from notifications.digests import programme_context

KIND = "tovholder_weekly"
_LIVE = (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value)


def reminder_key(programme_id: int, email: str, now: datetime, fbh: Fbh) -> str:
    return f"tovholder-week:{programme_id}:{email}:{iso_week_label(fbh.today(now))}"


def queue_tovholder_reminders(fbh: Fbh, now: datetime) -> int:
    """Queue this week's reminder to the tovholder of every planned or running programme;
    returns how many were newly queued."""
    if not fbh.settings.http.public_url:
        return 0
    today = fbh.today(now)
    queued = 0
    with fbh.store.transaction() as tx:
        ids = [p.id for p in tx.programmes.find(states=list(_LIVE)) if p.id is not None]
    for programme_id in ids:
        with fbh.store.transaction() as tx:
            programme = tx.programmes.get(programme_id)
            if programme.state not in _LIVE or today > programme.end_date:
                continue
            digest = programme_digest(fbh, tx, programme, now)
            tovholder = digest.tovholder
            token = new_token()
            context = {
                "recipient": {"name": tovholder.name, "email": tovholder.email},
                "programme": programme_context(digest, today, fbh.tz),
                "page_url": page_url(fbh.settings, token),
                "iso_week": today.isocalendar()[1],
            }
            draft = mail_draft(
                key=reminder_key(programme_id, tovholder.email, now, fbh),
                kind=KIND,
                recipient=tovholder,
                due_at=now,
                context=context,
                domain=fbh.settings.mail_domain,
                programme_id=programme_id,
            )
            if tx.outbox.enqueue([draft], now):
                tx.pages.add(programme_id, programme.tovholder_id, token_hash(token), "weekly", now)
                queued += 1
    return queued
