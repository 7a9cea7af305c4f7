"""CLI: ``fbh milestone`` (done, skip, reschedule)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

import typer

from engine.cli.common import (
    FIRST_YEAR,
    LAST_YEAR,
    parse_date,
    parse_datetime,
    parse_id,
    say,
    state,
)
from engine.cli.i18n import _
from engine.domain import clock
from engine.domain.milestone_ref import find_milestone
from engine.domain.views import ProgrammeView

milestone_app = typer.Typer(help="Milestones of a programme.", no_args_is_help=True)


@milestone_app.command("done")
def milestone_done(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key or title of the milestone.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Allow before it is due or before earlier milestones."),
    ] = False,
) -> None:
    """Mark a milestone done."""
    view = state(ctx).fbh.milestone_done(parse_id(programme_id), key, clock.utcnow(), force=force)
    say(_("programme {id}: {key} done").format(id=view.id, key=_closed_key(view, key)))


@milestone_app.command("skip")
def milestone_skip(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key or title of the milestone.")],
) -> None:
    """Skip a milestone; a future meeting is cancelled in the calendars."""
    view = state(ctx).fbh.milestone_skip(parse_id(programme_id), key, clock.utcnow())
    say(_("programme {id}: {key} skipped").format(id=view.id, key=_closed_key(view, key)))


def _closed_key(view: ProgrammeView, key: str) -> str:
    """The key of the milestone, or of the check-in (``checkin-3``), that ``key`` names."""
    for checkin in view.checkins:
        if checkin.key == key.strip() and not any(
            m.planned.key == checkin.key for m in view.milestones
        ):
            return checkin.key
    return find_milestone([m.planned for m in view.milestones], key, view.id).key


@milestone_app.command("reschedule")
def milestone_reschedule(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key or title of the milestone.")],
    start: Annotated[
        str,
        typer.Option(
            "--start",
            help="Local date and time, or with an offset; a date alone keeps the usual time.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Allow outside the window or working hours."),
    ] = False,
) -> None:
    """Move a meeting; attendees get an update."""
    settings = state(ctx).settings
    moment: date | datetime
    if _is_date(start):  # a date alone: the meeting keeps its time of day
        moment = parse_date(start, "--start")
    else:
        moment = parse_datetime(start, "--start", settings)
    view = state(ctx).fbh.reschedule(
        parse_id(programme_id), key, moment, clock.utcnow(), force=force
    )
    moved = find_milestone([m.planned for m in view.milestones], key, view.id)
    assert moved.start is not None
    when = moved.start.astimezone(settings.tz).isoformat(timespec="minutes")
    say(_("programme {id}: {key} at {when}").format(id=view.id, key=moved.key, when=when))


def _is_date(text: str) -> bool:
    """A plain, valid ``YYYY-MM-DD`` (anything else is read, and refused, as a date and time)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        return False
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return False
    return FIRST_YEAR <= day.year <= LAST_YEAR
