"""Weekly digests: what each consultant, and the programme lead, should know this week.

Two layers, so each can be tested on its own:

* **pure helpers**: relative weeks, the timeline, which milestones are upcoming or overdue,
  the consultants' meeting load, the next digest time (no I/O, no clock);
* **building** the data model (:class:`ConsultantDigest`, :class:`LeadDigest`) from store
  reads, for a given ``now``.

Turning the model into mail (template context, outbox drafts, the weekly queuing) is
:mod:`notifications.digests`; :func:`queue_weekly_digests` here is the daemon's entry point.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from engine.config.settings import DigestTime
from engine.domain.budget import BudgetPart, PartStatus, round_hours
from engine.domain.errors import NotFoundError
from engine.domain.gcpause import paused_gc
from engine.domain.model import Contact, MilestoneKind, MilestoneState, ProgrammeState
from engine.domain.workdays import iso_week, week_monday
from engine.domain.workflow import WorkflowDefinition
from engine.services.programmes import Fbh
from engine.services.programmes import _definition_from_snapshot as definition_from_snapshot
from engine.services.timelog import END_CHECK_LOOKBACK, ENDED_STATES, budget_parts
from engine.store import digests as digest_store
from engine.store.digests import MilestoneRow, ProgrammeRow
from engine.store.store import Event, Milestone, OutboxMessage, Programme, Request, Tx

DIGEST_WEEKS = 3  # milestones of this week and the next two
LOAD_WEEKS = 4  # the lead sees each consultant's meetings this week and the next three
SOON_DAYS = 3  # a request with this many days left or fewer is close to its deadline
MISSED_LOOKBACK = timedelta(days=7)  # one digest period
ENDED_LOOKBACK = END_CHECK_LOOKBACK  # the lead sees "under budget" of programmes ended since

_LIVE = (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value, ProgrammeState.PAUSED.value)
_CLOSED = (MilestoneState.DONE.value, MilestoneState.SKIPPED.value, MilestoneState.CANCELLED.value)
_NOT_HELD = (MilestoneState.SKIPPED.value, MilestoneState.CANCELLED.value)
_OPEN_REQUEST = "received"

Phase = Literal["past", "current", "future"]


# ----- the data model -------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestMilestone:
    """A milestone as the digest shows it. ``weeks`` are programme weeks."""

    title: str
    kind: str
    state: str
    weeks: tuple[int, int]
    window_start: date
    window_end: date
    start: datetime | None
    end: datetime | None
    owner: str = ""  # the role that does a task

    @property
    def is_meeting(self) -> bool:
        return self.kind == MilestoneKind.MEETING.value

    @property
    def is_open(self) -> bool:
        return self.state not in _CLOSED

    def first_day(self, tz: ZoneInfo) -> date:
        return self.start.astimezone(tz).date() if self.start else self.window_start


@dataclass(frozen=True)
class WeekCell:
    """One week of a programme's timeline."""

    week: int  # programme week
    iso_week: int
    phase: Phase
    meetings: tuple[str, ...]
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class ProgrammeDigest:
    id: int
    organisation: str
    municipality: str
    title: str
    extensions: tuple[str, ...]  # titles of the extensions
    consultant: Contact
    tovholder: Contact
    state: str
    start: date
    end: date
    week: int  # the programme week today falls in (negative before the start)
    total_weeks: int  # the last week: 12, or 18 with TILPASSET
    timeline: tuple[WeekCell, ...]
    upcoming: tuple[DigestMilestone, ...]
    overdue: tuple[DigestMilestone, ...]
    meetings: tuple[DigestMilestone, ...]
    hours: tuple[PartStatus, ...]


@dataclass(frozen=True)
class RequestItem:
    id: int
    organisation: str
    contact: Contact
    received: date
    deadline: date
    days_left: int  # negative when the deadline has passed
    assigned: bool  # assigned to the digest's consultant (else unassigned)


@dataclass(frozen=True)
class MissedItem:
    """A message that was not sent because the daemon was down when it fell due."""

    due: datetime
    kind: str
    programme_id: int | None
    organisation: str
    title: str
    recipient: str


@dataclass(frozen=True)
class ConsultantLoad:
    consultant: Contact
    meetings: tuple[int, ...]  # per week, from this week on


@dataclass(frozen=True)
class BudgetAlertItem:
    programme: ProgrammeDigest
    hours: PartStatus
    level: Literal["over", "under"]


@dataclass(frozen=True)
class ConsultantDigest:
    recipient: Contact
    today: date
    programmes: tuple[ProgrammeDigest, ...]
    requests: tuple[RequestItem, ...]
    missed: tuple[MissedItem, ...]


@dataclass(frozen=True)
class LeadDigest:
    recipient: Contact
    today: date
    programmes: tuple[ProgrammeDigest, ...]
    load_weeks: tuple[date, ...]  # the Mondays of the load columns
    load: tuple[ConsultantLoad, ...]
    breaches: tuple[RequestItem, ...]  # open requests past their deadline
    soon: tuple[RequestItem, ...]  # open requests close to it
    budget_alerts: tuple[BudgetAlertItem, ...]
    missed: tuple[MissedItem, ...]


# ----- pure helpers ---------------------------------------------------------------------------


def relative_week(start: date, day: date) -> int:
    """The programme week of ``day``: 0 is the ISO week containing ``start``."""
    return (week_monday(day, 0) - week_monday(start, 0)).days // 7


def timeline_cells(
    start: date, total_weeks: int, today: date, milestones: Sequence[DigestMilestone], tz: ZoneInfo
) -> tuple[WeekCell, ...]:
    """Weeks 0 … ``total_weeks``: meetings in the week they are held, tasks over their window."""
    current = relative_week(start, today)
    meetings: dict[int, list[str]] = {}
    tasks: dict[int, list[str]] = {}
    for m in milestones:
        if m.state in _NOT_HELD:
            continue
        if m.is_meeting:
            meetings.setdefault(relative_week(start, m.first_day(tz)), []).append(m.title)
        else:
            for week in range(m.weeks[0], m.weeks[1] + 1):
                tasks.setdefault(week, []).append(m.title)
    monday = week_monday(start, 0)
    return tuple(
        WeekCell(
            week=week,
            iso_week=(monday + timedelta(weeks=week)).isocalendar()[1],
            phase="past" if week < current else "current" if week == current else "future",
            meetings=tuple(meetings.get(week, ())),
            tasks=tuple(tasks.get(week, ())),
        )
        for week in range(total_weeks + 1)
    )


def upcoming(
    milestones: Iterable[DigestMilestone], today: date, tz: ZoneInfo, weeks: int = DIGEST_WEEKS
) -> tuple[DigestMilestone, ...]:
    """Open milestones of this week and the next ``weeks - 1``: meetings held then, and tasks
    whose window is open then and has not closed."""
    first = week_monday(today, 0)
    after = first + timedelta(weeks=weeks)
    found = [
        m
        for m in milestones
        if m.is_open
        and (
            first <= m.first_day(tz) < after
            if m.is_meeting
            else m.window_start < after and m.window_end >= today
        )
    ]
    return tuple(sorted(found, key=lambda m: (m.first_day(tz), m.window_end)))


def overdue_tasks(
    milestones: Iterable[DigestMilestone], today: date
) -> tuple[DigestMilestone, ...]:
    """Tasks whose window has closed without being done (or skipped)."""
    return tuple(m for m in milestones if not m.is_meeting and m.is_open and m.window_end < today)


def coming_meetings(
    milestones: Iterable[DigestMilestone], now: datetime
) -> tuple[DigestMilestone, ...]:
    """Meetings still ahead, in order."""
    ahead = [m for m in milestones if m.is_meeting and m.is_open and m.start and m.start >= now]
    return tuple(sorted(ahead, key=lambda m: m.start or now))


def meeting_load(
    starts: Iterable[tuple[Contact, datetime]], mondays: Sequence[date], tz: ZoneInfo
) -> tuple[ConsultantLoad, ...]:
    """Meetings per consultant per week (the weeks begin on ``mondays``)."""
    counts: Counter[tuple[str, date]] = Counter()
    people: dict[str, Contact] = {}
    for consultant, start in starts:
        people[consultant.email] = consultant
        counts[(consultant.email, week_monday(start.astimezone(tz).date(), 0))] += 1
    return tuple(
        ConsultantLoad(people[email], tuple(counts[(email, monday)] for monday in mondays))
        for email in sorted(people, key=lambda e: (people[e].name.lower(), e))
    )


def next_digest_at(after: datetime, when: DigestTime, tz: ZoneInfo) -> datetime:
    """The first digest time strictly after ``after`` (aware, in ``tz``)."""
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(when.weekday - local.weekday()) % 7)
    candidate = datetime.combine(day, when.at, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(day + timedelta(weeks=1), when.at, tzinfo=tz)
    return candidate


def iso_week_label(day: date) -> str:
    """``2027-W03``: the ISO year and week used in digest dedupe keys."""
    year, week = iso_week(day)
    return f"{year}-W{week:02d}"


# ----- building the model from the store ------------------------------------------------------


#
# Every digest of a run is built from one read of the store: a few queries for all recipients
# (engine.store.digests), then each programme's digest once, shared by its consultant's digest
# and the lead's. (Built per consultant and per programme, the weekly run made tens of queries
# per programme and read every programme once per consultant.)


@dataclass(frozen=True)
class Digests:
    """The digests of one run: the consultants' in the order asked for, and the lead's."""

    consultants: tuple[ConsultantDigest, ...]
    lead: LeadDigest | None


def build_digests(
    fbh: Fbh, now: datetime, emails: Sequence[str], lead: Contact | None = None
) -> Digests:
    """The digests on ``now`` of the consultants with ``emails`` and, when ``lead`` is given,
    the programme lead's; raises NotFoundError for an address that is nobody's."""
    today = now.astimezone(fbh.tz).date()
    with paused_gc(), fbh.store.transaction() as tx:
        people = digest_store.people_by_email(tx, emails)
        for email in emails:
            if email.lower() not in people:
                raise NotFoundError("consultant", email)
        wanted = {people[e.lower()][0] for e in emails}
        live = digest_store.programmes(
            tx, states=_LIVE, consultant_ids=None if lead is not None else wanted
        )
        ended = [
            p
            for p in (digest_store.programmes(tx, states=ENDED_STATES) if lead is not None else [])
            if today - ENDED_LOOKBACK <= p.end_date < today
        ]
        contacts = digest_store.contacts(
            tx, {i for p in (*live, *ended) for i in (p.consultant_id, p.tovholder_id)}
        )
        built = _programme_digests(fbh, tx, [*live, *ended], now, contacts)
        requests = tx.list_requests(states=[_OPEN_REQUEST])
        missed = _missed(tx, now)
        owned = digest_store.consultant_programme_ids(tx) if emails else {}
        by_consultant: dict[int, list[ProgrammeDigest]] = {}
        for row in live:
            by_consultant.setdefault(row.consultant_id, []).append(built[row.id])
        digests = []
        for email in emails:
            person_id, person = people[email.lower()]
            ids = owned.get(person_id, set())
            digests.append(
                ConsultantDigest(
                    recipient=person,
                    today=today,
                    programmes=tuple(by_consultant.get(person_id, ())),
                    requests=tuple(
                        _request_item(r, today, person_id)
                        for r in requests
                        if r.consultant_id in (None, person_id)
                    ),
                    missed=tuple(
                        m for m in missed if m.programme_id in ids or m.recipient == person.email
                    ),
                )
            )
        lead_part = None
        if lead is not None:
            mondays = tuple(week_monday(today, i) for i in range(LOAD_WEEKS))
            items = [_request_item(r, today, None) for r in requests]
            programmes = tuple(built[row.id] for row in live)
            lead_part = LeadDigest(
                recipient=lead,
                today=today,
                programmes=programmes,
                load_weeks=mondays,
                load=meeting_load(_meeting_starts(fbh, tx, mondays, contacts), mondays, fbh.tz),
                breaches=tuple(r for r in items if r.days_left < 0),
                soon=tuple(r for r in items if 0 <= r.days_left <= SOON_DAYS),
                budget_alerts=_budget_alerts(
                    programmes, tuple(built[row.id] for row in ended), today
                ),
                missed=missed,
            )
    return Digests(tuple(digests), lead_part)


def consultant_digest(fbh: Fbh, email: str, now: datetime) -> ConsultantDigest:
    """The digest of the consultant with ``email`` on ``now``."""
    return build_digests(fbh, now, [email]).consultants[0]


def lead_digest(fbh: Fbh, now: datetime, recipient: Contact | None = None) -> LeadDigest:
    """The programme lead's digest: every programme, the load, SLA breaches, budget alerts."""
    lead = recipient or fbh.settings.lead
    if lead is None:
        raise NotFoundError("programme lead ([mail] lead in config.toml)", "")
    digest = build_digests(fbh, now, [], lead).lead
    assert digest is not None
    return digest


def _programme_digests(
    fbh: Fbh, tx: Tx, rows: Sequence[ProgrammeRow], now: datetime, people: dict[int, Contact]
) -> dict[int, ProgrammeDigest]:
    """The digest of each programme, from a few queries for all of them."""
    ids = [p.id for p in rows]
    milestones = digest_store.milestones(tx, ids)
    hours = digest_store.hours_by_part(tx, ids)
    organisations = digest_store.organisation_names(tx, {p.organisation_id for p in rows})
    build = _ProgrammeBuilder(fbh, now)
    return {
        p.id: build(p, milestones.get(p.id, []), hours.get(p.id, []), people, organisations)
        for p in rows
    }


class _ProgrammeBuilder:
    """Builds programme digests; parses each distinct workflow snapshot once."""

    def __init__(self, fbh: Fbh, now: datetime) -> None:
        self.fbh = fbh
        self.now = now
        self.today = now.astimezone(fbh.tz).date()
        self.hours_per_workday = fbh.settings.engine.hours_per_workday
        self._definitions: dict[int, dict[str, WorkflowDefinition]] = {}
        self._snapshots: list[dict[str, str]] = []  # keeps the ids above valid
        self._parts: dict[tuple[int, str, tuple[str, ...], date], list[BudgetPart]] = {}

    def definitions(self, snapshot: dict[str, str]) -> dict[str, WorkflowDefinition]:
        found = self._definitions.get(id(snapshot))
        if found is None:
            found = {key: definition_from_snapshot(key, text) for key, text in snapshot.items()}
            self._definitions[id(snapshot)] = found
            self._snapshots.append(snapshot)
        return found

    def budget(self, programme: ProgrammeRow) -> list[BudgetPart]:
        key = (
            id(programme.snapshot),
            programme.workflow,
            programme.extensions,
            programme.start_date,
        )
        parts = self._parts.get(key)
        if parts is None:
            definitions = self.definitions(programme.snapshot)
            parts = self._parts[key] = budget_parts(
                cast(Programme, programme),  # reads only its start_date
                definitions[programme.workflow],
                [definitions[k] for k in programme.extensions],
                self.hours_per_workday,
            )
        return parts

    def __call__(
        self,
        programme: ProgrammeRow,
        rows: Sequence[MilestoneRow],
        entries: Sequence[tuple[str, float]],
        people: dict[int, Contact],
        organisations: dict[int, str],
    ) -> ProgrammeDigest:
        definitions = self.definitions(programme.snapshot)
        base = definitions[programme.workflow]
        milestones = [
            _milestone(row, definitions[row.workflow].milestone(row.key).owner) for row in rows
        ]
        used: dict[str, float] = {}
        for part, hours in entries:  # in the order engine.services.timelog.used_by_part sums them
            used[part] = used.get(part, 0.0) + hours
        start, tz, today = programme.start_date, self.fbh.tz, self.today
        total = relative_week(start, programme.end_date)
        return ProgrammeDigest(
            id=programme.id,
            organisation=organisations[programme.organisation_id],
            municipality=programme.municipality,
            title=base.title,
            extensions=tuple(definitions[k].title for k in programme.extensions),
            consultant=people[programme.consultant_id],
            tovholder=people[programme.tovholder_id],
            state=programme.state,
            start=start,
            end=programme.end_date,
            week=relative_week(start, today),
            total_weeks=total,
            timeline=timeline_cells(start, total, today, milestones, tz),
            upcoming=upcoming(milestones, today, tz),
            overdue=overdue_tasks(milestones, today),
            meetings=coming_meetings(milestones, self.now),
            hours=tuple(
                PartStatus(p, round_hours(used[p.key]) if p.key in used else 0.0, today)
                for p in self.budget(programme)
            ),
        )


def _milestone(row: Milestone | MilestoneRow, owner: object) -> DigestMilestone:
    return DigestMilestone(
        title=row.title,
        kind=row.kind,
        state=row.state,
        weeks=(row.week_first, row.week_last),
        window_start=row.window_start,
        window_end=row.window_end,
        start=row.start_at,
        end=row.end_at,
        owner=str(owner) if owner else "",
    )


def _request_item(row: Request, today: date, consultant_id: int | None) -> RequestItem:
    assert row.id is not None
    return RequestItem(
        id=row.id,
        organisation=row.organisation,
        contact=Contact(row.contact_name, row.contact_email),
        received=row.received,
        deadline=row.deadline,
        days_left=(row.deadline - today).days,
        assigned=consultant_id is not None and row.consultant_id == consultant_id,
    )


def _meeting_starts(
    fbh: Fbh, tx: Tx, mondays: Sequence[date], people: dict[int, Contact]
) -> list[tuple[Contact, datetime]]:
    begin = datetime.combine(mondays[0], time(0), tzinfo=fbh.tz)
    until = datetime.combine(mondays[-1] + timedelta(weeks=1), time(0), tzinfo=fbh.tz)
    starts = digest_store.meeting_starts(tx, begin, until, states=_LIVE, skip=_NOT_HELD)
    missing = {c for c, _ in starts if c not in people}
    people = {**people, **digest_store.contacts(tx, missing)} if missing else people
    return [(people[consultant], start) for consultant, start in starts]


def _budget_alerts(
    live: Sequence[ProgrammeDigest], ended: Sequence[ProgrammeDigest], today: date
) -> tuple[BudgetAlertItem, ...]:
    over = [BudgetAlertItem(p, h, "over") for p in live for h in p.hours if h.status == "over"]
    under = [BudgetAlertItem(p, h, "under") for p in ended for h in p.hours if h.status == "under"]
    return tuple(over + under)


def _missed(tx: Tx, now: datetime) -> tuple[MissedItem, ...]:
    """Messages recorded as missed in the last ``MISSED_LOOKBACK``: outbox rows in state
    ``missed`` and ``missed`` events (an event about a row already listed is not repeated),
    by due time."""
    since = now - MISSED_LOOKBACK
    events = [e for e in tx.events(event="missed") if e.at >= since]
    flagged = {e.entity_id for e in events if e.entity == "outbox" and e.entity_id is not None}
    rows = [r for r in tx.outbox(states=["missed"]) if r.due_at >= since or r.id in flagged]
    listed = {r.id for r in rows}
    events = [e for e in events if not (e.entity == "outbox" and e.entity_id in listed)]
    referred = {r.programme_id for r in rows} | {e.programme_id for e in events}
    names = digest_store.programme_organisations(tx, {i for i in referred if i is not None})
    items = [_missed_row(r, names) for r in rows] + [_missed_event(e, names) for e in events]
    return tuple(sorted(items, key=lambda i: i.due))


def _missed_row(row: OutboxMessage, names: dict[int, str]) -> MissedItem:
    context = row.payload.get("context") if isinstance(row.payload, dict) else None
    return MissedItem(
        due=row.due_at,
        kind=row.kind,
        programme_id=row.programme_id,
        organisation=_organisation(row.programme_id, context, names),
        title=_title(context),
        recipient=row.recipient,
    )


def _missed_event(event: Event, names: dict[int, str]) -> MissedItem:
    data = event.data if isinstance(event.data, dict) else {}
    due = event.at
    if isinstance(data.get("due_at"), str):
        try:
            due = datetime.fromisoformat(data["due_at"])
        except ValueError:
            due = event.at
    if due.tzinfo is None:
        due = event.at
    return MissedItem(
        due=due,
        kind=str(data.get("kind") or "reminder"),
        programme_id=event.programme_id,
        organisation=_organisation(event.programme_id, data.get("context"), names),
        title=str(data.get("title") or data.get("milestone") or ""),
        recipient=str(data.get("recipient") or ""),
    )


def _organisation(programme_id: int | None, context: Any, names: dict[int, str]) -> str:
    if programme_id is not None and programme_id in names:
        return names[programme_id]
    if isinstance(context, dict) and isinstance(context.get("programme"), dict):
        return str(context["programme"].get("organisation") or "")
    return ""


def _title(context: Any) -> str:
    if not isinstance(context, dict):
        return ""
    for key in ("milestone", "meeting"):
        part = context.get(key)
        if isinstance(part, dict) and part.get("title"):
            return str(part["title"])
    return ""


def digest_consultants(fbh: Fbh) -> list[str]:
    """Who gets a consultant digest: consultants of live programmes, and consultants
    assigned to an open request."""
    with fbh.store.transaction() as tx:
        ids = digest_store.consultant_ids(tx, states=_LIVE)
        ids |= {
            r.consultant_id
            for r in tx.list_requests(states=[_OPEN_REQUEST])
            if r.consultant_id is not None
        }
        return sorted(c.email for c in digest_store.contacts(tx, ids).values())


def queue_weekly_digests(fbh: Fbh, now: datetime) -> int:
    """The daemon's weekly job: queue every digest of this ISO week once, and return how many
    were newly queued. See :func:`notifications.digests.queue_weekly_digests`."""
    # Imported here: notifications.digests builds on this module.
    from notifications.digests import queue_weekly_digests as queue

    return queue(fbh, now)
