"""The weekly digests as mail: the template context and the outbox drafts.

The context is the digest model of :mod:`engine.domain.digest` turned into the JSON-safe dict the
``digest_consultant`` and ``digest_lead`` templates render. The same dict is stored in the
outbox payload, packed (:mod:`engine.domain.packed`), so a queued digest renders the same
later. It holds only strings, numbers, booleans and lists, and avoids the payload keys that
``notifications.envelope.revive`` turns into dates (``start``, ``end``, ``deadline``, …).

The daemon queues the digests at the configured time (``[digest]`` in config.toml;
:func:`engine.domain.digest.next_digest_at` gives the next run) through
:func:`engine.services.digests.queue_weekly_digests`. Each digest has a dedupe key per
recipient and ISO week (``digest:{email}:{YYYY}-W{WW}``; the lead's starts ``digest-lead:``), so
a week's digest is queued once however often it is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.budget import BudgetPart, PartStatus, bar_segments, round_hours, text_bar
from engine.domain.digest import (
    SOON_DAYS,
    BudgetAlertItem,
    ConsultantDigest,
    DigestMilestone,
    LeadDigest,
    MissedItem,
    ProgrammeDigest,
    RequestItem,
    WeekCell,
    iso_week_label,
    relative_week,
)
from engine.domain.model import OutboxDraft
from engine.domain.packed import PACKED_KEY, pack_context
from engine.domain.workdays import iso_week, week_monday
from notifications.compose import mail_draft
from notifications.compose_inbound import PARTSTAT_DA
from notifications.digest_overview import overview_attachments
from notifications.render import (
    da_date,
    da_hours,
    da_period,
    da_time,
    da_timespan,
    da_weekday,
)

CONSULTANT_KIND = "digest_consultant"
LEAD_KIND = "digest_lead"
# Digests queued per transaction: the write lock is held briefly, and only a chunk's
# contexts are in memory at once. A week's digest is queued once (dedupe key) whatever the
# chunk, so a run that stops half-way is completed by the next.
QUEUE_CHUNK = 50
# The lead's digest lists at most this many rows per section (the rest is in the attached
# CSV files), so its size does not grow with the number of programmes.
LEAD_LIST_LIMIT = 25
BUSY_WEEK = 3  # meetings in one week that make a consultant's week busy (highlighted)


def digest_key(kind: str, email: str, day: date) -> str:
    prefix = "digest" if kind == CONSULTANT_KIND else "digest-lead"
    return f"{prefix}:{email}:{iso_week_label(day)}"


# ----- the template context -------------------------------------------------------------------

_STATE_LABELS = {
    "planned": "planlagt",
    "running": "i gang",
    "paused": "sat på pause",
    "completed": "afsluttet",
    "cancelled": "aflyst",
}
_STATUS_LABELS = {"under": "under budget", "within": "inden for budget", "over": "over budget"}
_PACE_LABELS = {"behind": "bagud", "on track": "i takt", "ahead": "foran"}
_KIND_LABELS = {
    "reminder": "Påmindelse",
    "task_due": "Besked om opgave",
    "invite": "Invitation",
    "budget_alert": "Advarsel om tidsforbrug",
    "checkin": "Opfølgning efter forløbet",
    "course_invite": "Invitation til BASIS-kursus",
    "course_reminder": "Påmindelse om BASIS-kursus",
    "course_roster": "Deltagerliste til kursussted",
    "course_decision": "Spørgsmål om BASIS-kursus under minimum",
}
_ROLE_LABELS = {"tovholder": "tovholder", "consultant": "konsulent", "lead": "programleder"}


def consultant_context(digest: ConsultantDigest, tz: ZoneInfo) -> dict[str, Any]:
    """The ``digest_consultant`` template context (JSON-safe)."""
    programmes = [_programme_context(p, digest.today, tz) for p in digest.programmes]
    requests = [_request_context(r) for r in digest.requests]
    counts = {
        "programmes": len(programmes),
        "upcoming": sum(len(p.upcoming) for p in digest.programmes),
        "overdue": sum(len(p.overdue) for p in digest.programmes),
        "requests": len(requests),
        "requests_soon": sum(r.days_left <= SOON_DAYS for r in digest.requests),
        "over_budget": sum(h.status == "over" for p in digest.programmes for h in p.hours),
        "missed": len(digest.missed),
    }
    attention = (
        counts["overdue"] + counts["requests_soon"] + counts["over_budget"] + counts["missed"]
    )
    return {
        "recipient": {"name": digest.recipient.name, "email": digest.recipient.email},
        **_week_context(digest.today),
        "counts": counts,
        "attention": attention,
        "programmes": programmes,
        "requests": requests,
        "missed": [_missed_context(m, tz) for m in digest.missed],
    }


def lead_context(digest: LeadDigest, tz: ZoneInfo) -> dict[str, Any]:
    """The ``digest_lead`` template context (JSON-safe): what needs attention first (SLA
    breaches, deadlines within 3 days, overdue tasks, budgets, busy consultants, missed
    mail), each list sorted by urgency and cut at ``LEAD_LIST_LIMIT`` rows; ``more`` says how
    many rows each list left out. The full overview is attached as CSV
    (:func:`lead_attachments`)."""
    breaches = sorted(digest.breaches, key=lambda r: (r.days_left, r.id))
    soon = sorted(digest.soon, key=lambda r: (r.days_left, r.id))
    overdue = sorted(
        (p for p in digest.programmes if p.overdue),
        key=lambda p: (-len(p.overdue), p.organisation, p.id),
    )
    alerts = sorted(
        digest.budget_alerts,
        key=lambda a: (a.level != "over", -a.hours.percent_of_max, a.programme.id),
    )
    busy = [row for row in digest.load if max(row.meetings, default=0) >= BUSY_WEEK]
    busy.sort(key=lambda row: (-max(row.meetings), -sum(row.meetings), row.consultant.name))
    lists: dict[str, Sequence[object]] = {
        "breaches": breaches,
        "soon": soon,
        "overdue": overdue,
        "budget_alerts": alerts,
        "busy": busy,
        "missed": list(digest.missed),
    }
    label = iso_week_label(digest.today)
    return {
        "recipient": {"name": digest.recipient.name, "email": digest.recipient.email},
        **_week_context(digest.today),
        "counts": {
            "programmes": len(digest.programmes),
            "consultants": len(digest.load),
            "breaches": len(digest.breaches),
            "soon": len(digest.soon),
            "budget_alerts": len(digest.budget_alerts),
            "overdue": sum(len(p.overdue) for p in digest.programmes),
            "overdue_programmes": len(overdue),
            "busy": len(busy),
            "missed": len(digest.missed),
        },
        "limit": LEAD_LIST_LIMIT,
        "more": {key: max(0, len(items) - LEAD_LIST_LIMIT) for key, items in lists.items()},
        "files": {"programmes": f"forloeb-{label}.csv", "load": f"moeder-{label}.csv"},
        "breaches": [_request_context(r) for r in breaches[:LEAD_LIST_LIMIT]],
        "soon": [_request_context(r) for r in soon[:LEAD_LIST_LIMIT]],
        "overdue": [_overdue_context(p, digest.today) for p in overdue[:LEAD_LIST_LIMIT]],
        "budget_alerts": [_alert_context(a) for a in alerts[:LEAD_LIST_LIMIT]],
        "load": {
            "weeks": [f"uge {iso_week(monday)[1]}" for monday in digest.load_weeks],
            "rows": [
                {
                    "name": row.consultant.name,
                    "email": row.consultant.email,
                    "meetings": list(row.meetings),
                    "total": sum(row.meetings),
                }
                for row in busy[:LEAD_LIST_LIMIT]
            ],
        },
        "missed": [_missed_context(m, tz) for m in digest.missed[:LEAD_LIST_LIMIT]],
        "courses": [
            {
                "id": c.id,
                "city": c.city,
                "venue": c.venue,
                "when_text": f"{da_date(c.start)} kl. {da_time(c.start)}",
                "capacity": c.capacity,
                "registered": c.registered,
                "waitlisted": c.waitlisted,
                "under_minimum": c.minimum is not None and c.registered < c.minimum,
                "minimum": c.minimum,
            }
            for c in digest.courses
        ],
        "too_few_courses": digest.too_few_courses,
    }


def lead_attachments(digest: LeadDigest) -> list[dict[str, str]]:
    """The lead digest's attachments as stored in its payload: every live programme, and
    every consultant's meetings per week, as CSV (:mod:`notifications.digest_overview`)."""
    return overview_attachments(digest, iso_week_label(digest.today))


def _week_context(today: date) -> dict[str, Any]:
    year, week = iso_week(today)
    monday = week_monday(today, 0)
    return {
        "iso_year": year,
        "iso_week": week,
        "today_text": f"{da_weekday(today)} den {da_date(today)}",
        "week_period_text": da_period(monday, monday + timedelta(days=6)),
    }


def programme_context(p: ProgrammeDigest, today: date, tz: ZoneInfo) -> dict[str, Any]:
    """One programme as a digest shows it (also the tovholder's page, engine/daemon/page.py)."""
    return _programme_context(p, today, tz)


def _programme_context(p: ProgrammeDigest, today: date, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": p.id,
        "organisation": p.organisation,
        "municipality": p.municipality,
        "title": p.title,
        "extensions": list(p.extensions),
        "tovholder": {"name": p.tovholder.name, "email": p.tovholder.email},
        "consultant": {"name": p.consultant.name, "email": p.consultant.email},
        "state": p.state,
        "state_label": _STATE_LABELS.get(p.state, p.state),
        "week": p.week,
        "total_weeks": p.total_weeks,
        "week_text": _programme_week_text(p, today),
        "iso_week": iso_week(today)[1],
        "period_text": da_period(p.start, p.end),
        "timeline": _timeline_context(p.timeline),
        "upcoming": [_milestone_context(m, p.start, tz) for m in p.upcoming],
        "overdue": [_milestone_context(m, p.start, tz) for m in p.overdue],
        # the meetings after the three weeks above (those within are listed there)
        "meetings": [_milestone_context(m, p.start, tz) for m in p.meetings if m not in p.upcoming],
        "hours": [_hours_context(h) for h in p.hours],
        "answers": [
            {"meeting": meeting, "name": name, "answer": PARTSTAT_DA.get(partstat, partstat)}
            for meeting, name, partstat in getattr(p, "answers", ())
        ],
        "bouncing": list(getattr(p, "bouncing", ())),
    }


def _programme_week_text(p: ProgrammeDigest, today: date) -> str:
    if p.week < 0:
        weeks = -p.week
        return f"Starter om {weeks} {'uge' if weeks == 1 else 'uger'} ({da_date(p.start)})"
    if today > p.end:
        return f"Sluttede {da_date(p.end)} (uge {p.total_weeks})"
    return f"Uge {p.week} af {p.total_weeks}"


# Programmes that start in the same week, with the same milestones in the same states, have
# equal timelines, and equal cells recur across all programmes (most weeks have no marks):
# each timeline's and each cell's dicts are made once and shared by the contexts that show
# them (contexts are only read: packed and rendered).
@lru_cache(maxsize=4096)
def _timeline_context(cells: tuple[WeekCell, ...]) -> list[dict[str, Any]]:
    return [_cell_context(c) for c in cells]


@lru_cache(maxsize=8192)
def _cell_context(cell: WeekCell) -> dict[str, Any]:
    meetings, tasks = cell.meetings, cell.tasks
    if meetings or tasks:  # most weeks have neither: no marks, no label
        marks = ("●" if meetings else "") + ("■" if tasks else "")
        label = ", ".join(meetings + tasks)
    else:
        marks = label = ""
    return {
        "week": cell.week,
        "iso_week": cell.iso_week,
        "phase": cell.phase,
        "marks": marks,
        "label": label,
    }


# The same milestones (title, dates, state) recur in the programmes that start in the same
# week: each one's dict is made once per programme start and shared.
@lru_cache(maxsize=8192)
def _milestone_context(m: DigestMilestone, start: date, tz: ZoneInfo) -> dict[str, Any]:
    if m.is_meeting and m.start is not None and m.end is not None:
        first_day, iso_text, when = _meeting_texts(m.start, m.end, tz)
        weeks_text = f"uge {relative_week(start, first_day)}"
    else:
        first, last = m.weeks
        weeks_text = f"uge {first}" if first == last else f"uge {first}–{last}"
        iso_text, when = _window_texts(m.window_start, m.window_end)
    return {
        "title": m.title,
        "is_meeting": m.is_meeting,
        "kind_label": "Møde" if m.is_meeting else "Opgave",
        "owner_label": _ROLE_LABELS.get(m.owner, m.owner),
        "weeks_text": weeks_text,
        "iso_text": iso_text,
        "when": when,
        "due_text": _due_text(m.window_end),
    }


# A week's digests show the same few hundred dates and meeting times again and again: their
# Danish texts are made once each.
@lru_cache(maxsize=4096)
def _meeting_texts(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, str, str]:
    first_day = start.astimezone(tz).date()
    when = da_timespan(start.astimezone(tz), end.astimezone(tz))
    return first_day, f"ISO-uge {iso_week(first_day)[1]}", when


@lru_cache(maxsize=4096)
def _window_texts(window_start: date, window_end: date) -> tuple[str, str]:
    iso_first, iso_last = iso_week(window_start)[1], iso_week(window_end)[1]
    iso_text = (
        f"ISO-uge {iso_first}" if iso_first == iso_last else f"ISO-uge {iso_first}–{iso_last}"
    )
    return iso_text, da_period(window_start, window_end)


@lru_cache(maxsize=4096)
def _due_text(day: date) -> str:
    return f"{da_weekday(day)} den {da_date(day)}"


def _hours_context(h: PartStatus) -> dict[str, Any]:
    return _part_context(h.part, h.used_hours, h.today)


# Programmes of one workflow that start in the same week share their budget parts, and many
# have logged the same hours: each (part, hours, day) has its dict made once, and shared.
@lru_cache(maxsize=4096, typed=True)
def _part_context(part: BudgetPart, used: float, today: date) -> dict[str, Any]:
    h = PartStatus(part, used, today)
    segments, bar_text = _bars(h.used_hours, part.min_hours, part.max_hours)
    return {
        "key": part.key,
        "title": part.title,
        "is_extension": part.is_extension,
        "min_hours": part.min_hours,
        "max_hours": part.max_hours,
        "used_hours": round_hours(h.used_hours),
        "percent_of_max": h.percent_of_max,
        "status": h.status,
        "status_label": _STATUS_LABELS[h.status],
        "pace": h.pace,
        "pace_label": _PACE_LABELS[h.pace],
        "summary": (
            f"{da_hours(h.used_hours)} af {da_hours(part.min_hours)}–"
            f"{da_hours(part.max_hours)} timer"
        ),
        "segments": [{"kind": kind, "width": width} for kind, width in segments],
        "text_bar": bar_text,
    }


@lru_cache(maxsize=4096)
def _bars(used: float, minimum: float, maximum: float) -> tuple[tuple[tuple[str, int], ...], str]:
    """The hours bar's segments (kind, width) and its text; the same few budgets and hours
    recur in every digest, so each bar is computed once."""
    segments = tuple((s.kind, s.width) for s in bar_segments(used, minimum, maximum))
    return segments, text_bar(used, minimum, maximum)


def _request_context(r: RequestItem) -> dict[str, Any]:
    if r.days_left < 0:
        left = f"overskredet med {-r.days_left} {'dag' if r.days_left == -1 else 'dage'}"
    elif r.days_left == 0:
        left = "frist i dag"
    else:
        left = f"{r.days_left} {'dag' if r.days_left == 1 else 'dage'} tilbage"
    return {
        "id": r.id,
        "organisation": r.organisation,
        "contact": {"name": r.contact.name, "email": r.contact.email},
        "received_text": da_date(r.received),
        "deadline_text": da_date(r.deadline),
        "days_left": r.days_left,
        "days_left_text": left,
        "urgent": r.days_left <= SOON_DAYS,
        "breached": r.days_left < 0,
        "assigned": r.assigned,
    }


def _missed_context(m: MissedItem, tz: ZoneInfo) -> dict[str, Any]:
    local = m.due.astimezone(tz)
    return {
        "kind_label": _KIND_LABELS.get(m.kind, m.kind),
        "programme_id": m.programme_id,
        "organisation": m.organisation,
        "title": m.title,
        "recipient": m.recipient,
        "due_text": f"{da_weekday(local)} den {da_date(local)} kl. {local:%H.%M}",
    }


def _overdue_context(p: ProgrammeDigest, today: date) -> dict[str, Any]:
    return {
        "id": p.id,
        "organisation": p.organisation,
        "municipality": p.municipality,
        "consultant": {"name": p.consultant.name, "email": p.consultant.email},
        "week_text": _programme_week_text(p, today),
        "overdue": len(p.overdue),
        "titles": ", ".join(m.title for m in p.overdue),
    }


def _alert_context(a: BudgetAlertItem) -> dict[str, Any]:
    h = a.hours
    return {
        "level": a.level,
        "level_label": "over maksimum" if a.level == "over" else "under minimum ved afslutning",
        "programme_id": a.programme.id,
        "organisation": a.programme.organisation,
        "consultant": {"name": a.programme.consultant.name},
        "tovholder": {"name": a.programme.tovholder.name},
        "part_title": h.part.title,
        "summary": (
            f"{da_hours(h.used_hours)} af {da_hours(h.part.min_hours)}–"
            f"{da_hours(h.part.max_hours)} timer"
        ),
    }


# ----- queuing --------------------------------------------------------------------------------


def digest_draft(
    kind: str,
    digest: ConsultantDigest | LeadDigest,
    context: dict[str, Any],
    now: datetime,
    tz: ZoneInfo,
    domain: str,
) -> OutboxDraft:
    """The outbox draft of one digest, keyed per recipient and ISO week."""
    key = digest_key(kind, digest.recipient.email, now.astimezone(tz).date())
    attachments = lead_attachments(digest) if isinstance(digest, LeadDigest) else None
    draft = mail_draft(
        key=key,
        kind=kind,
        recipient=digest.recipient,
        due_at=now,
        context=context,
        domain=domain,
        attachments=attachments,
    )
    # Stored packed (engine/domain/packed.py): the fallback when the rendered bytes are stale.
    del draft.payload["context"]
    draft.payload[PACKED_KEY] = pack_context(context)
    return draft


def digest_context(digest: ConsultantDigest | LeadDigest, tz: ZoneInfo) -> dict[str, Any]:
    """The template context of either kind of digest."""
    if isinstance(digest, LeadDigest):
        return lead_context(digest, tz)
    return consultant_context(digest, tz)
