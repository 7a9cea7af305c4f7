"""Text output shared by several command groups: plans, programmes, moves (translated with
:mod:`engine.cli.i18n`; Danish by default)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from engine.cli.common import (
    emit_json,
    say,
)
from engine.cli.i18n import N_, _
from engine.domain.workdays import iso_week

if TYPE_CHECKING:  # `fbh programme list` must not load the services (docs/benchmarks.md)
    from engine.config.settings import Settings
    from engine.domain.planning import Plan
    from engine.domain.views import ProgrammeView
    from engine.services.facade import MoveResult

# an attendee's answer to an invite (PARTSTAT, lower case), as `programme show` lists it
PARTSTATS = {
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "tentative": N_("tentatively accepted"),
    "needs-action": N_("not answered"),
    "delegated": N_("delegated"),
}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


def table_header() -> str:
    week, iso, milestone = _("week"), _("ISO week"), _("milestone")
    window, time = _("window"), _("time")
    return f"{week:>5}  {iso:<9} {milestone:<34} {window:<31} {time}"


def format_plan(plan: Plan, settings: Settings) -> str:
    lines = [
        f"{plan.workflow}"
        + (f" + {', '.join(plan.extensions)}" if plan.extensions else "")
        + f": {da_date(plan.start)} – {da_date(plan.end)}",
        "",
        table_header(),
    ]
    for m in plan.milestones:
        lines.append(plan_row(m, settings))
    moved = [m for m in plan.milestones if m.moved]
    if moved:
        lines += ["", _("Moved because of closures (no meetings; the window stretches):")]
        lines += [f"  {m.title}: {m.move.describe() if m.move else m.moved}" for m in moved]
    return "\n".join(lines)


def plan_row(m: Any, settings: Settings) -> str:
    first, last = m.weeks
    rel = f"{first}" if first == last else f"{first}–{last}"
    iso_first, iso_last = iso_week(m.window_start)[1], iso_week(m.window_end)[1]
    iso = f"{iso_first}" if iso_first == iso_last else f"{iso_first}–{iso_last}"
    window = f"{da_date(m.window_start)} – {da_date(m.window_end)}"
    when = ""
    if m.start is not None and m.end is not None:
        start, end = m.start.astimezone(settings.tz), m.end.astimezone(settings.tz)
        when = f"{da_date(start.date())} {start:%H.%M}–{end:%H.%M}"
    title = m.title if len(m.title) <= 34 else m.title[:33] + "…"
    week = _("week {number}").format(number=iso)
    return f"{rel:>5}  {week:<9} {title:<34} {window:<31} {when}".rstrip()


def da_date(day: date) -> str:
    """``man 2027-01-04`` (``Mon 2027-01-04`` in English)."""
    return f"{_(WEEKDAYS[day.weekday()])} {day.isoformat()}"


def state_label(value: str) -> str:
    """A state (of a programme, milestone, request, course or message) in the user's
    language (JSON keeps the value)."""
    labels = {
        "planned": _("planned"),
        "running": _("running"),
        "paused": _("paused"),
        "completed": _("completed"),
        "cancelled": _("cancelled"),
        "scheduled": _("scheduled"),
        "done": _("done"),
        "skipped": _("skipped"),
        "overdue": _("overdue"),
        "received": _("received"),
        "proposed": _("proposed"),
        "accepted": _("accepted"),
        "declined": _("declined"),
        "withdrawn": _("withdrawn"),
        "held": _("held"),  # a BASIS course that has taken place
        "pending": _("pending"),  # the outbox's
        "sending": _("sending"),
        "sent": _("sent"),
        "failed": _("failed"),
        "missed": _("missed"),
    }
    return labels.get(value, value)


def show_programme(view: ProgrammeView, settings: Settings, as_json: bool) -> None:
    if as_json:
        emit_json(view.to_json(settings.tz))
        return
    extensions = f" + {', '.join(view.extensions)}" if view.extensions else ""
    say(
        f"#{view.id} {view.workflow_title}{extensions} [{state_label(view.state)}]\n  "
        + _("{organisation}, {municipality} municipality").format(
            organisation=view.organisation, municipality=view.municipality
        )
        + "\n  "
        + _("consultant {consultant}, tovholder {tovholder}").format(
            consultant=view.consultant, tovholder=view.tovholder
        )
        + f"\n  {da_date(view.start)} – {da_date(view.end)}  "
        + _("(version {version})").format(version=view.version)
        + "\n"
    )
    key = _("key")
    say(f"{key:<14} {table_header()}")
    for m in view.milestones:
        row = plan_row(m.planned, settings)
        say(f"{m.planned.key:<14} {row}  [{state_label(m.state)}]")
        if m.attendees:  # the answers to the invite (docs/inbound.md)
            answers = ", ".join(
                f"{a.name}: {_(PARTSTATS[a.partstat]) if a.partstat in PARTSTATS else a.partstat}"
                for a in m.attendees
            )
            say("      " + _("answers: {answers}").format(answers=answers))
    for c in view.checkins:  # maintenance check-ins after the end: tasks of the tovholder
        due = c.due.astimezone(settings.tz)
        title = _("check-in {months} months after the end").format(months=c.months)
        say(f"{c.key:<14} {due:%Y-%m-%d %H:%M}  {title}  [{state_label(c.state)}]")


def format_move(result: MoveResult) -> str:
    head = (_("moved") if result.applied else _("would move")) + " "
    programme = _("programme {id}").format(id=result.programme_id)
    lines = [f"{programme}: {head}{result.old_start} → {result.new_start}"]
    if not result.changes:
        lines.append("  " + _("no dates change"))
    for c in result.changes:
        lines.append(f"  {c.workflow}.{c.key:<14} {c.field:<13} {c.before} → {c.after}")
    return "\n".join(lines)
