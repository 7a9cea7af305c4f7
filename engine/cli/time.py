"""CLI: the tovholder's time (``fbh time``)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.common import (
    JsonOption,
    emit_json,
    parse_date,
    parse_id,
    state,
)
from engine.domain import clock
from engine.domain.budget import PartStatus, text_bar
from engine.services.timelog import (
    TimeChange,
    TimeEntryView,
    TimeStatus,
    delete_time,
    edit_time,
    list_time,
    log_time,
    parse_hours,
    time_status,
)

time_app = typer.Typer(help="The tovholder's hours against the budget.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Programme id.")]
EntryArgument = Annotated[str, typer.Argument(metavar="ENTRY_ID", help="Time entry id.")]
NOTE_HELP = "What the time was spent on (staff work only: nothing about residents)."


# ----- fbh time -------------------------------------------------------------------------------


@time_app.command("log")
def time_log(
    ctx: typer.Context,
    programme_id: IdArgument,
    hours: Annotated[str, typer.Option("--hours", help="Hours, e.g. 2.5 (or 2,5).")],
    on: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD; default today.")] = None,
    note: Annotated[str, typer.Option("--note", help=NOTE_HELP)] = "",
    part: Annotated[
        str | None,
        typer.Option("--part", help="Workflow the hours belong to, e.g. tilpasset; default base."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Log the tovholder's hours on a programme."""
    change = log_time(
        state(ctx).fbh,
        parse_id(programme_id),
        hours=parse_hours(hours),
        day=parse_date(on, "--date") if on is not None else None,
        note=note,
        part=part,
        now=clock.utcnow(),
    )
    _show_change("logged", change, as_json)


@time_app.command("edit")
def time_edit(
    ctx: typer.Context,
    entry_id: EntryArgument,
    hours: Annotated[str | None, typer.Option("--hours", help="New hours.")] = None,
    on: Annotated[str | None, typer.Option("--date", help="New date, YYYY-MM-DD.")] = None,
    note: Annotated[str | None, typer.Option("--note", help=NOTE_HELP)] = None,
    part: Annotated[str | None, typer.Option("--part", help="Move to another part.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a time entry."""
    change = edit_time(
        state(ctx).fbh,
        parse_id(entry_id, "entry id"),
        hours=parse_hours(hours) if hours is not None else None,
        day=parse_date(on, "--date") if on is not None else None,
        note=note,
        part=part,
        now=clock.utcnow(),
    )
    _show_change("changed", change, as_json)


@time_app.command("delete")
def time_delete(ctx: typer.Context, entry_id: EntryArgument, as_json: JsonOption = False) -> None:
    """Delete a time entry."""
    entry = delete_time(state(ctx).fbh, parse_id(entry_id, "entry id"), clock.utcnow())
    if as_json:
        emit_json({"deleted": entry.to_json()})
        return
    typer.echo(f"deleted entry {entry.id}: {_entry_line(entry)}")


@time_app.command("status")
def time_status_command(
    ctx: typer.Context, programme_id: IdArgument, as_json: JsonOption = False
) -> None:
    """Hours used against the budget, per part, with the pace."""
    status = time_status(state(ctx).fbh, parse_id(programme_id), clock.utcnow())
    if as_json:
        emit_json(status.to_json())
        return
    typer.echo(format_status(status))


@time_app.command("list")
def time_list(ctx: typer.Context, programme_id: IdArgument, as_json: JsonOption = False) -> None:
    """List a programme's time entries."""
    entries = list_time(state(ctx).fbh, parse_id(programme_id))
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    if not entries:
        typer.echo("no time logged")
    for entry in entries:
        typer.echo(f"#{entry.id:<5} {_entry_line(entry)}")


def _show_change(verb: str, change: TimeChange, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "entry": change.entry.to_json(),
                "status": change.status.to_json(),
                "alerts_queued": change.alerts_queued,
            }
        )
        return
    part = change.status.part(change.entry.part)
    typer.echo(f"{verb} entry {change.entry.id}: {_entry_line(change.entry)}")
    typer.echo(f"  {_part_line(part)}")
    if change.alerts_queued:
        typer.echo(
            f"  {change.alerts_queued} budget alert(s) queued; deliver with 'fbh outbox send'"
        )


def _entry_line(entry: TimeEntryView) -> str:
    note = f"  {entry.note}" if entry.note else ""
    return f"{entry.day}  {entry.hours:g} h  {entry.part:<18} {entry.person}{note}"


def _part_line(part: PartStatus) -> str:
    budget = part.part
    head = (
        f"{budget.key:<18} {part.used_hours:g} of {budget.min_hours:g}–{budget.max_hours:g} h "
        f"{text_bar(part.used_hours, budget.min_hours, budget.max_hours)} "
    )
    if part.status == "over":  # no pace is "on track" past the maximum
        return head + (
            f"over the maximum by {-part.remaining_hours:g} h ({part.percent_of_max} % of max)"
        )
    return head + (
        f"{part.status}, {part.percent_of_max} % of max; pace {part.pace} "
        f"({round(part.elapsed_share * 100)} % of the part's timeline passed)"
    )


def format_status(status: TimeStatus) -> str:
    lines = [f"programme {status.programme_id}: {status.organisation} ({status.workflow})"]
    lines += [f"  {_part_line(part)}" for part in status.parts]
    return "\n".join(lines)
