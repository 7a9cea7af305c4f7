"""CLI: the tovholder's time (``fbh time``)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.common import (
    JsonOption,
    emit_json,
    optional_text,
    parse_date,
    parse_id,
    say,
    state,
)
from engine.cli.i18n import _, ngettext
from engine.domain import clock
from engine.domain.budget import PartStatus, text_bar
from engine.domain.model import MAX_NOTE
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
        note=optional_text(note, "--note", MAX_NOTE),
        part=part,
        now=clock.utcnow(),
    )
    _show_change(_("logged entry {id}"), change, as_json)


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
        note=optional_text(note, "--note", MAX_NOTE) if note is not None else None,
        part=part,
        now=clock.utcnow(),
    )
    _show_change(_("changed entry {id}"), change, as_json)


@time_app.command("delete")
def time_delete(ctx: typer.Context, entry_id: EntryArgument, as_json: JsonOption = False) -> None:
    """Delete a time entry."""
    entry = delete_time(state(ctx).fbh, parse_id(entry_id, "entry id"), clock.utcnow())
    if as_json:
        emit_json({"deleted": entry.to_json()})
        return
    deleted = _("deleted entry {id}").format(id=entry.id)
    say(f"{deleted}: {_entry_line(entry)}")


@time_app.command("status")
def time_status_command(
    ctx: typer.Context, programme_id: IdArgument, as_json: JsonOption = False
) -> None:
    """Hours used against the budget, per part, with the pace."""
    status = time_status(state(ctx).reader, parse_id(programme_id), clock.utcnow())
    if as_json:
        emit_json(status.to_json())
        return
    say(format_status(status))


@time_app.command("list")
def time_list(ctx: typer.Context, programme_id: IdArgument, as_json: JsonOption = False) -> None:
    """List a programme's time entries."""
    entries = list_time(state(ctx).reader, parse_id(programme_id))
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    if not entries:
        say(_("no time logged"))
    for entry in entries:
        say(f"#{entry.id:<5} {_entry_line(entry)}")


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
    say(f"{verb.format(id=change.entry.id)}: {_entry_line(change.entry)}")
    say(f"  {_part_line(part)}")
    if change.alerts_queued:
        queued = ngettext(
            "{n} budget alert queued; deliver it with 'fbh outbox send'",
            "{n} budget alerts queued; deliver them with 'fbh outbox send'",
            change.alerts_queued,
        )
        say("  " + queued.format(n=change.alerts_queued))


def _entry_line(entry: TimeEntryView) -> str:
    note = f"  {entry.note}" if entry.note else ""
    hours = _("{hours} h").format(hours=hours_text(entry.hours))
    return f"{entry.day}  {hours}  {entry.part:<18} {entry.person}{note}"


def _part_line(part: PartStatus) -> str:
    budget = part.part
    used = _("{used} of {low}–{high} h").format(
        used=hours_text(part.used_hours),
        low=hours_text(budget.min_hours),
        high=hours_text(budget.max_hours),
    )
    bar = text_bar(part.used_hours, budget.min_hours, budget.max_hours)
    head = f"{budget.key:<18} {used} {bar} "
    if part.status == "over":  # no pace is "on track" past the maximum
        return head + _("over the maximum by {hours} h ({percent} % of max)").format(
            hours=hours_text(-part.remaining_hours), percent=part.percent_of_max
        )
    status = {"under": _("under"), "within": _("within")}.get(part.status, part.status)
    pace = {"behind": _("behind"), "on track": _("on track"), "ahead": _("ahead")}
    return head + _(
        "{status}, {percent} % of max; pace {pace} ({passed} % of the part's timeline passed)"
    ).format(
        status=status,
        percent=part.percent_of_max,
        pace=pace.get(part.pace, part.pace),
        passed=round(part.elapsed_share * 100),
    )


def hours_text(value: float) -> str:
    """``2.5`` in English, ``2,5`` in Danish."""
    return f"{value:g}".replace(".", _("."))


def format_status(status: TimeStatus) -> str:
    programme = _("programme {id}").format(id=status.programme_id)
    lines = [f"{programme}: {status.organisation} ({status.workflow})"]
    lines += [f"  {_part_line(part)}" for part in status.parts]
    return "\n".join(lines)
