"""CLI: ``fbh plan`` (a dry run of a timeline)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.common import (
    JsonOption,
    emit_json,
    parse_date,
    say,
    state,
)
from engine.cli.formatting import (
    format_plan,
)
from engine.domain.planning import plan_to_json
from engine.services.facade import Planner


def plan_command(
    ctx: typer.Context,
    workflow: str,
    start: Annotated[str, typer.Option("--start", help="Start date, YYYY-MM-DD.")],
    extensions: Annotated[
        list[str] | None, typer.Option("--with", help="Add an extension workflow.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Dry run of a timeline; writes nothing."""
    settings = state(ctx).settings
    plan = Planner.from_settings(settings).plan(
        workflow, parse_date(start, "--start"), extensions or []
    )
    if as_json:
        emit_json(plan_to_json(plan, settings.tz))
    else:
        say(format_plan(plan, settings))
