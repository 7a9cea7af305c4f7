"""Weekly digests: build what each consultant, and the programme lead, should know this week
from store reads (for a given ``now``), and queue them as mail.

The data model and its pure helpers are :mod:`engine.domain.digest`; the template context and
the outbox drafts are :mod:`notifications.digests`. :func:`queue_weekly_digests` here is the
daemon's weekly job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast

from engine.domain.budget import BudgetPart, PartStatus, round_hours
from engine.domain.courses import PLANNED as COURSE_PLANNED
from engine.domain.digest import (
    COURSE_HORIZON_DAYS,
    LOAD_WEEKS,
    NOT_HELD,
    SOON_DAYS,
    BudgetAlertItem,
    ConsultantDigest,
    CourseItem,
    DigestMilestone,
    LeadDigest,
    ProgrammeDigest,
    RequestItem,
    coming_meetings,
    iso_week_label,
    meeting_load,
    missed_by_consultant,
    overdue_tasks,
    relative_week,
    timeline_cells,
    upcoming,
)
from engine.domain.errors import NotFoundError
from engine.domain.gcpause import paused_gc
from engine.domain.model import Contact, ProgrammeState
from engine.domain.workdays import week_monday
from engine.domain.workflow import WorkflowDefinition
from engine.services.answers import with_inbound
from engine.services.context import definition_from_snapshot
from engine.services.digest_missed import missed_items
from engine.services.facade import Fbh
from engine.services.timelog import END_CHECK_LOOKBACK, ENDED_STATES, budget_parts
from engine.store import digests as digest_store
from engine.store.digests import MilestoneRow, ProgrammeRow
from engine.store.store import Programme, Request, Tx
from notifications.digests import (
    CONSULTANT_KIND,
    LEAD_KIND,
    QUEUE_CHUNK,
    digest_context,
    digest_draft,
)
from notifications.prerender import render_drafts
from notifications.rendered import fingerprint

ENDED_LOOKBACK = END_CHECK_LOOKBACK  # the lead sees "under budget" of programmes ended since

_LIVE = (ProgrammeState.PLANNED.value, ProgrammeState.RUNNING.value, ProgrammeState.PAUSED.value)
_OPEN_REQUEST = "received"


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
        ended: list[ProgrammeRow] = []
        if lead is not None:  # those ended in the lookback, not every one that ever ended
            since = today - ENDED_LOOKBACK
            rows = digest_store.programmes(tx, states=ENDED_STATES, ending_from=since)
            ended = [p for p in rows if p.end_date < today]
        contacts = digest_store.contacts(
            tx, {i for p in (*live, *ended) for i in (p.consultant_id, p.tovholder_id)}
        )
        built = _programme_digests(fbh, tx, live, now, contacts, ended)
        requests = tx.requests.find(states=[_OPEN_REQUEST])
        missed = missed_items(tx, now)
        owned = digest_store.consultant_programme_ids(tx) if emails else {}
        by_consultant: dict[int, list[ProgrammeDigest]] = {}
        for row in live:
            by_consultant.setdefault(row.consultant_id, []).append(built[row.id])
        recipients = [people[email.lower()] for email in emails]
        their_requests = _requests_by_consultant(requests, today)
        their_missed = missed_by_consultant(missed, owned, recipients)
        digests = [
            ConsultantDigest(
                recipient=person,
                today=today,
                programmes=tuple(by_consultant.get(person_id, ())),
                requests=their_requests(person_id),
                missed=tuple(their_missed.get(person_id, ())),
            )
            for person_id, person in recipients
        ]
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
                courses=_courses(tx, now),
            )
    return Digests(tuple(digests), lead_part)


def _courses(tx: Tx, now: datetime) -> tuple[CourseItem, ...]:
    """The planned BASIS courses that start in the coming 12 months."""
    horizon = now + timedelta(days=COURSE_HORIZON_DAYS)
    rows = [
        c
        for c in tx.courses.find(states=[COURSE_PLANNED], ending_after=now)
        if c.start_at <= horizon
    ]
    counts = tx.courses.counts([c.id for c in rows if c.id is not None])
    return tuple(
        CourseItem(
            id=c.id or 0,
            city=c.city,
            venue=c.venue,
            start=c.start_at,
            end=c.end_at,
            capacity=c.capacity,
            registered=counts[c.id or 0][0],
            waitlisted=counts[c.id or 0][1],
            minimum=c.minimum,
        )
        for c in rows
    )


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


def programme_digest(fbh: Fbh, tx: Tx, programme: Programme, now: datetime) -> ProgrammeDigest:
    """One programme's digest, as its consultant's digest shows it (the tovholder's page)."""
    assert programme.id is not None
    row = ProgrammeRow(
        id=programme.id,
        workflow=programme.workflow,
        extensions=tuple(programme.extensions),
        organisation_id=programme.organisation_id,
        municipality=programme.municipality,
        consultant_id=programme.consultant_id,
        tovholder_id=programme.tovholder_id,
        start_date=programme.start_date,
        end_date=programme.end_date,
        state=programme.state,
        snapshot=programme.workflow_snapshot,
    )
    people = digest_store.contacts(tx, {programme.consultant_id, programme.tovholder_id})
    return _programme_digests(fbh, tx, [row], now, people)[programme.id]


def _programme_digests(
    fbh: Fbh,
    tx: Tx,
    rows: Sequence[ProgrammeRow],
    now: datetime,
    people: dict[int, Contact],
    ended: Sequence[ProgrammeRow] = (),
) -> dict[int, ProgrammeDigest]:
    """The digest of each programme, from a few queries for all of them. The ``ended``
    programmes are only in the lead's budget alerts, which show their names and hours: they
    are built without reading their milestones (no marks on the timeline, no lists)."""
    ids = [p.id for p in rows]
    milestones = digest_store.milestones(tx, ids)
    hours = digest_store.hours_by_part(tx, [*ids, *(p.id for p in ended)])
    organisations = digest_store.organisation_names(
        tx, {p.organisation_id for p in (*rows, *ended)}
    )
    build = _ProgrammeBuilder(fbh, now)
    built = {
        p.id: build(p, milestones.get(p.id, []), hours.get(p.id, []), people, organisations)
        for p in rows
    }
    for p in ended:
        built[p.id] = build(p, [], hours.get(p.id, []), people, organisations)
    return with_inbound(tx, built, people, now)


class _ProgrammeBuilder:
    """Builds programme digests; parses each distinct workflow snapshot once."""

    def __init__(self, fbh: Fbh, now: datetime) -> None:
        self.fbh = fbh
        self.now = now
        self.today = now.astimezone(fbh.tz).date()
        self.hours_per_workday = fbh.settings.engine.hours_per_workday
        self._definitions: dict[int, dict[str, WorkflowDefinition]] = {}
        self._snapshots: list[dict[str, str]] = []  # keeps the ids above valid
        self._owners: dict[int, dict[tuple[str, str], str]] = {}
        self._parts: dict[tuple[int, str, tuple[str, ...], date], list[BudgetPart]] = {}

    def definitions(self, snapshot: dict[str, str]) -> dict[str, WorkflowDefinition]:
        found = self._definitions.get(id(snapshot))
        if found is None:
            found = {key: definition_from_snapshot(key, text) for key, text in snapshot.items()}
            self._definitions[id(snapshot)] = found
            self._snapshots.append(snapshot)
        return found

    def owners(self, snapshot: dict[str, str]) -> dict[tuple[str, str], str]:
        """(workflow, milestone key) → the role that does it ("" for none)."""
        found = self._owners.get(id(snapshot))
        if found is None:
            found = self._owners[id(snapshot)] = {
                (key, m.key): str(m.owner) if m.owner else ""
                for key, definition in self.definitions(snapshot).items()
                for m in definition.milestones
            }
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
        owners = self.owners(programme.snapshot)
        milestones = [
            DigestMilestone(
                title, kind, state, (first, last), opens, closes, start, end, owners[workflow, key]
            )
            for _, workflow, key, title, kind, state, first, last, opens, closes, start, end in rows
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


def _requests_by_consultant(
    requests: Sequence[Request], today: date
) -> Callable[[int], tuple[RequestItem, ...]]:
    """A consultant's open requests, in the order given: those assigned to them and the
    unassigned ones (each request's item is made once, not once per consultant)."""
    items = [(r.consultant_id, _request_item(r, today, r.consultant_id)) for r in requests]
    unassigned: list[tuple[int, RequestItem]] = []
    assigned: dict[int, list[tuple[int, RequestItem]]] = {}
    for position, (consultant_id, item) in enumerate(items):
        mine = unassigned if consultant_id is None else assigned.setdefault(consultant_id, [])
        mine.append((position, item))

    def of(person_id: int) -> tuple[RequestItem, ...]:  # positions are unique: sorted by them
        return tuple(item for _, item in sorted(assigned.get(person_id, []) + unassigned))

    return of


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
    starts = digest_store.meeting_starts(tx, begin, until, states=_LIVE, skip=NOT_HELD)
    missing = {c for c, _ in starts if c not in people}
    people = {**people, **digest_store.contacts(tx, missing)} if missing else people
    return [(people[consultant], start) for consultant, start in starts]


def _budget_alerts(
    live: Sequence[ProgrammeDigest], ended: Sequence[ProgrammeDigest], today: date
) -> tuple[BudgetAlertItem, ...]:
    over = [BudgetAlertItem(p, h, "over") for p in live for h in p.hours if h.status == "over"]
    under = [BudgetAlertItem(p, h, "under") for p in ended for h in p.hours if h.status == "under"]
    return tuple(over + under)


def digest_consultants(fbh: Fbh) -> list[str]:
    """Who gets a consultant digest: consultants of live programmes, and consultants
    assigned to an open request."""
    with fbh.store.transaction() as tx:
        ids = digest_store.consultant_ids(tx, states=_LIVE)
        ids |= {
            r.consultant_id
            for r in tx.requests.find(states=[_OPEN_REQUEST])
            if r.consultant_id is not None
        }
        return sorted(c.email for c in digest_store.contacts(tx, ids).values())


@dataclass(frozen=True)
class QueueResult:
    week: str  # ISO week, e.g. 2027-W03
    queued: tuple[str, ...]  # recipients whose digest was newly queued
    already: tuple[str, ...]  # recipients whose digest of this week was queued before


def queue_digests(
    fbh: Fbh,
    now: datetime,
    *,
    consultants: Sequence[str] | None = None,
    lead: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> QueueResult:
    """Queue this week's digests: for ``consultants`` (default: everyone with live work) and,
    with ``lead``, for the programme lead when one is configured. ``on_progress(done,
    total)`` follows the queueing (a progress bar)."""
    emails = digest_consultants(fbh) if consultants is None else list(consultants)
    queued: list[str] = []
    already: list[str] = []
    domain = fbh.settings.mail_domain
    with fbh.store.transaction() as tx:
        installation = tx.installation  # the Message-IDs of the rows are salted with it
    mark = fingerprint(fbh.settings)
    with paused_gc():
        built = build_digests(fbh, now, emails, fbh.settings.lead if lead else None)
        digests: list[tuple[str, ConsultantDigest | LeadDigest]] = [
            (CONSULTANT_KIND, d) for d in built.consultants
        ]
        if built.lead is not None:
            digests.append((LEAD_KIND, built.lead))
        for start in range(0, len(digests), QUEUE_CHUNK):
            drafts = []
            for kind, digest in digests[start : start + QUEUE_CHUNK]:
                context = digest_context(digest, fbh.tz)
                drafts.append((digest_draft(kind, digest, context, now, fbh.tz, domain), context))
            # Rendered before the transaction (the write lock is not held while rendering)
            # and queued with the rows; a digest queued before keeps what its row has.
            rendered = render_drafts(drafts, fbh.settings, now, installation)
            with fbh.store.transaction() as tx:
                current = tx.installation == installation  # the Message-IDs rendered
                for (draft, _context), data in zip(drafts, rendered, strict=True):
                    new = tx.outbox.enqueue(
                        [draft], now, rendered=[data] if current else None, rendered_with=mark
                    )
                    (queued if new else already).append(draft.recipient)
            if on_progress is not None:
                on_progress(min(start + QUEUE_CHUNK, len(digests)), len(digests))
    return QueueResult(iso_week_label(now.astimezone(fbh.tz).date()), tuple(queued), tuple(already))


def queue_weekly_digests(fbh: Fbh, now: datetime) -> int:
    """The daemon's weekly job: queue every digest of this ISO week once; returns how many
    were newly queued. The outbox delivers them."""
    return len(queue_digests(fbh, now).queued)
