"""Text output shared by several command groups: plans, programmes, moves (Danish)."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from engine.cli.common import (
    emit_json,
)
from engine.config.settings import Settings
from engine.domain.planning import Plan
from engine.domain.views import ProgrammeView
from engine.domain.workdays import iso_week
from engine.services.facade import MoveResult

WEEKDAYS_DA = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")


def format_plan(plan: Plan, settings: Settings) -> str:
    lines = [
        f"{plan.workflow}"
        + (f" + {', '.join(plan.extensions)}" if plan.extensions else "")
        + f": {da_date(plan.start)} – {da_date(plan.end)}",
        "",
        f"{'uge':>5}  {'ISO-uge':<9} {'milepæl':<34} {'vindue':<31} {'tid'}",
    ]
    for m in plan.milestones:
        lines.append(plan_row(m, settings))
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
    return f"{rel:>5}  {'uge ' + iso:<9} {title:<34} {window:<31} {when}".rstrip()


def da_date(day: date) -> str:
    return f"{WEEKDAYS_DA[day.weekday()][:3]} {day.isoformat()}"


def show_programme(view: ProgrammeView, settings: Settings, as_json: bool) -> None:
    if as_json:
        emit_json(view.to_json(settings.tz))
        return
    typer.echo(
        f"#{view.id} {view.workflow_title}"
        + (f" + {', '.join(view.extensions)}" if view.extensions else "")
        + f" [{view.state}]\n"
        f"  {view.organisation}, {view.municipality} kommune\n"
        f"  konsulent {view.consultant}, tovholder {view.tovholder}\n"
        f"  {da_date(view.start)} – {da_date(view.end)}  (version {view.version})\n"
    )
    typer.echo(f"{'nøgle':<14} {'uge':>5}  {'ISO-uge':<9} {'milepæl':<34} {'vindue':<31} {'tid'}")
    for m in view.milestones:
        typer.echo(f"{m.planned.key:<14} {plan_row(m.planned, settings)}  [{m.state}]")


def format_move(result: MoveResult) -> str:
    head = "would move" if not result.applied else "moved"
    lines = [f"programme {result.programme_id}: {head} {result.old_start} → {result.new_start}"]
    if not result.changes:
        lines.append("  no dates change")
    for c in result.changes:
        lines.append(f"  {c.workflow}.{c.key:<14} {c.field:<13} {c.before} → {c.after}")
    return "\n".join(lines)
