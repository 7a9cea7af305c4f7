"""``fbh status``: what the daemons are doing, read from the database alone.

Daemons alive (a heartbeat within ``daemon.heartbeat_timeout_seconds``), the leader (or the
leader that stopped answering, until another takes over), outbox
counts, breached requests and the next thing due (a message or a transition).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.domain.i18n import N_, _
from engine.domain.labels import event_label, mail_kind_label
from engine.domain.model import (
    AUTH_FAILED_EVENT,
    AUTH_OK_EVENT,
    MAIL_ENTITY,
    OutboxState,
    RequestState,
)
from engine.domain.timeline import describe, next_step
from engine.services.facade import Fbh
from engine.store import inbox as inbox_store


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    leader: bool
    alive: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "seen_at": self.seen_at.isoformat(),
            "leader": self.leader,
            "alive": self.alive,
        }


@dataclass(frozen=True)
class NextDue:
    at: datetime
    what: str  # "message" | "transition"
    detail: str  # the JSON's, in English: names, not prose
    words: str | None = field(default=None, compare=False)  # the detail in the CLI's language

    def to_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "what": self.what, "detail": self.detail}


@dataclass(frozen=True)
class MailAlarm:
    """The mail server rejects fbh's login: sending is paused since ``since``."""

    since: datetime
    error: str

    def to_json(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "error": self.error}


@dataclass(frozen=True)
class Status:
    now: datetime
    daemons: tuple[DaemonStatus, ...]
    outbox: dict[str, int]
    next_message: NextDue | None
    next_transition: NextDue | None
    breached_requests: int
    bouncing: tuple[tuple[str, int | None], ...] = ()  # (address, programme id) that bounced
    mail_alarm: MailAlarm | None = None  # the mail server rejects fbh's login

    @property
    def alive(self) -> tuple[DaemonStatus, ...]:
        return tuple(d for d in self.daemons if d.alive)

    @property
    def leader(self) -> DaemonStatus | None:
        leaders = [d for d in self.alive if d.leader]
        return max(leaders, key=lambda d: d.seen_at, default=None)

    @property
    def unresponsive_leader(self) -> DaemonStatus | None:
        """The daemon that last led, when it has stopped answering (frozen, cut off or
        killed) and no other has taken over yet."""
        if self.leader is not None:
            return None
        leaders = [d for d in self.daemons if d.leader and not d.alive]
        return max(leaders, key=lambda d: d.seen_at, default=None)

    @property
    def leader_state(self) -> str:
        """``leading`` | ``unresponsive`` (the leader stopped answering) | ``none``."""
        if self.leader is not None:
            return "leading"
        return "unresponsive" if self.unresponsive_leader is not None else "none"

    @property
    def next_due(self) -> NextDue | None:
        candidates = [n for n in (self.next_message, self.next_transition) if n is not None]
        return min(candidates, key=lambda n: n.at, default=None)

    def to_json(self) -> dict[str, Any]:
        leader = self.leader
        next_due = self.next_due
        return {
            "now": self.now.isoformat(),
            "daemons": [d.to_json() for d in self.daemons],
            "alive": len(self.alive),
            "leader": leader.name if leader else None,
            "leader_state": self.leader_state,
            "unresponsive_leader": stale.name if (stale := self.unresponsive_leader) else None,
            "outbox": {
                "pending": self.outbox.get(OutboxState.PENDING.value, 0),
                "sending": self.outbox.get(OutboxState.SENDING.value, 0),
                "failed": self.outbox.get(OutboxState.FAILED.value, 0),
                "missed": self.outbox.get(OutboxState.MISSED.value, 0),
                "sent": self.outbox.get(OutboxState.SENT.value, 0),
                "cancelled": self.outbox.get(OutboxState.CANCELLED.value, 0),
            },
            "next_due": next_due.to_json() if next_due else None,
            "next_message": self.next_message.to_json() if self.next_message else None,
            "next_transition": self.next_transition.to_json() if self.next_transition else None,
            "breached_requests": self.breached_requests,
            "bouncing": [{"email": e, "programme_id": p} for e, p in self.bouncing],
            "mail_alarm": self.mail_alarm.to_json() if self.mail_alarm else None,
        }


def gather(fbh: Fbh, now: datetime) -> Status:
    timeout = timedelta(seconds=fbh.settings.daemon.heartbeat_timeout_seconds)
    today = now.astimezone(fbh.tz).date()
    with fbh.store.transaction() as tx:
        rows = tx.daemons.find()
        counts = tx.outbox.counts()
        pending = tx.outbox.next_pending()
        step = next_step(tx.schedule.next_step_clocks(now, fbh.tz), now, fbh.tz)
        open_requests = tx.requests.find(states=[RequestState.RECEIVED.value])
        bounced = tuple((b.email, b.programme_id) for b in inbox_store.bouncing(tx))
        auth = tx.events.latest(MAIL_ENTITY, (AUTH_FAILED_EVENT, AUTH_OK_EVENT))
    daemons = tuple(
        DaemonStatus(
            name=d.name,
            host=d.host,
            pid=d.pid,
            started_at=d.started_at,
            seen_at=d.seen_at,
            leader=d.is_leader,
            alive=d.seen_at >= now - timeout,
        )
        for d in rows
    )
    next_message = None
    if pending is not None:
        detail = f"{pending.kind} to {pending.recipient} (#{pending.id})"
        words = _("{kind} to {recipient} (#{id})").format(
            kind=mail_kind_label(pending.kind), recipient=pending.recipient, id=pending.id
        )
        next_message = NextDue(pending.next_attempt_at, "message", detail, words)
    next_transition = None
    if step is not None:
        next_transition = NextDue(step[1].at, "transition", describe(*step), step_words(*step))
    return Status(
        now=now,
        daemons=daemons,
        outbox=counts,
        next_message=next_message,
        next_transition=next_transition,
        breached_requests=sum(r.deadline < today for r in open_requests),
        bouncing=bounced,
        mail_alarm=(
            MailAlarm(auth.at, str(auth.data.get("error", "")))
            if auth is not None and auth.event == AUTH_FAILED_EVENT
            else None
        ),
    )


def step_words(programme: Any, step: Any) -> str | None:
    """A timeline step in the CLI's language (``describe`` gives the JSON's names)."""
    keys = {m.id: m.key for m in programme.milestones}
    key = keys.get(step.milestone_id) if step.milestone_id is not None else None
    return event_label(step.event, programme.id, key or step.milestone_id)


def format_status(status: Status, tz: Any) -> str:
    """The human-readable status, in the CLI's language. The JSON's details of what is next
    due (``invite to … (#12)``, ``programme 3: start``) never change with the language: the
    text shows them in words (``NextDue.words``)."""
    lines = []
    if status.mail_alarm is not None:
        since = status.mail_alarm.since.astimezone(tz).isoformat(timespec="seconds")
        lines.append(
            _(
                "ALARM: the mail server rejects fbh's login since {since}; sending is paused, "
                "messages stay pending: {error}"
            ).format(since=since, error=status.mail_alarm.error)
        )
    alive = status.alive
    leader = status.leader
    stale = status.unresponsive_leader
    if leader is not None:
        lead = _(", leader {name}").format(name=leader.name)
    elif stale is not None:
        silent = (status.now - stale.seen_at).total_seconds()
        lead = _(
            ", no leader: {name} led and has not answered for {seconds} s "
            "(frozen, cut off or stopped); another daemon takes over when its lease runs out"
        ).format(name=stale.name, seconds=f"{silent:.0f}")
    else:
        lead = _(", no leader")
    lines.append(_("daemons: {n} alive").format(n=len(alive)) + lead)
    for d in status.daemons:
        role = _("leader") if d.leader and d.alive else (_("alive") if d.alive else _("dead"))
        if d is stale:
            role = _("silent")
        seen = d.seen_at.astimezone(tz).isoformat(timespec="seconds")
        where = _("pid {pid} on {host}, seen {seen}").format(pid=d.pid, host=d.host, seen=seen)
        lines.append(f"  {d.name:<40} {role:<7} {where}")
    counts = status.to_json()["outbox"]
    shown = ", ".join(f"{counts[k]} {_(OUTBOX_LABELS[k])}" for k in OUTBOX_LABELS)
    lines.append(_("outbox: {counts}").format(counts=shown))
    nxt = status.next_due
    if nxt is None:
        lines.append(_("next due: nothing"))
    else:
        at = nxt.at.astimezone(tz).isoformat(timespec="seconds")
        what = _("message") if nxt.what == "message" else _("transition")
        lines.append(
            _("next due: {at} {what}: {detail}").format(
                at=at, what=what, detail=nxt.words or nxt.detail
            )
        )
    if status.breached_requests:
        lines.append(_("requests past their deadline: {n}").format(n=status.breached_requests))
    if status.bouncing:
        addresses = ", ".join(e for e, _p in status.bouncing)
        lines.append(_("bouncing addresses: {addresses}").format(addresses=addresses))
    return "\n".join(lines)


# the outbox states `fbh status` counts, in its order (the words after the numbers)
OUTBOX_LABELS = {
    "pending": N_("pending"),
    "sending": N_("sending"),
    "failed": N_("failed"),
    "missed": N_("missed"),
    "sent": N_("sent"),
}
