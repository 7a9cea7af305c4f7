"""CLI: ``fbh milestone`` (done, skip, reschedule)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.common import (
    parse_datetime,
    parse_id,
    state,
)
from engine.domain import clock

milestone_app = typer.Typer(help="Milestones of a programme.", no_args_is_help=True)


@milestone_app.command("done")
def milestone_done(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    key: Annotated[str, typer.Argument(metavar="KEY")],
) -> None:
    """Mark a milestone done."""
    view = state(ctx).fbh.milestone_done(parse_id(programme_id), key, clock.utcnow())
    typer.echo(f"programme {view.id}: {key} done")


@milestone_app.command("skip")
def milestone_skip(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    key: Annotated[str, typer.Argument(metavar="KEY")],
) -> None:
    """Skip a milestone; a future meeting is cancelled in the calendars."""
    view = state(ctx).fbh.milestone_skip(parse_id(programme_id), key, clock.utcnow())
    typer.echo(f"programme {view.id}: {key} skipped")


@milestone_app.command("reschedule")
def milestone_reschedule(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    key: Annotated[str, typer.Argument(metavar="KEY")],
    start: Annotated[str, typer.Option("--start", help="Local time, or with an offset.")],
    force: Annotated[bool, typer.Option("--force", help="Allow outside the window.")] = False,
) -> None:
    """Move a meeting; attendees get an update."""
    settings = state(ctx).settings
    moment = parse_datetime(start, "--start", settings)
    view = state(ctx).fbh.reschedule(
        parse_id(programme_id), key, moment, clock.utcnow(), force=force
    )
    workflow, _, name = key.rpartition(".")
    moved = next(
        m for m in view.milestones if m.planned.key == name and workflow in ("", m.planned.workflow)
    )
    assert moved.planned.start is not None
    typer.echo(f"programme {view.id}: {key} at {moved.planned.start.isoformat(timespec='minutes')}")
