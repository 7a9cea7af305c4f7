"""CLI: the tovholder's time (``fbh time``) and the weekly digests (``fbh digest``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from engine.cli.app import JsonOption, app, emit_json, parse_date, parse_id, state
from engine.domain import clock
from engine.domain.budget import PartStatus, text_bar
from engine.domain.errors import InvalidInputError
from engine.services.digests import consultant_digest, iso_week_label, lead_digest
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
from notifications.digests import QueueResult, consultant_context, lead_context, queue_digests
from notifications.render import render_mail

time_app = typer.Typer(help="The tovholder's hours against the budget.", no_args_is_help=True)
digest_app = typer.Typer(help="Weekly e-mail digests.", no_args_is_help=True)
app.add_typer(time_app, name="time")
app.add_typer(digest_app, name="digest")

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
    return (
        f"{budget.key:<18} {part.used_hours:g} of {budget.min_hours:g}–{budget.max_hours:g} h "
        f"{text_bar(part.used_hours, budget.min_hours, budget.max_hours)} {part.status}, "
        f"{part.percent_of_max} % of max; pace {part.pace} "
        f"({round(part.elapsed_share * 100)} % of the part's timeline passed)"
    )


def format_status(status: TimeStatus) -> str:
    lines = [f"programme {status.programme_id}: {status.organisation} ({status.workflow})"]
    lines += [f"  {_part_line(part)}" for part in status.parts]
    return "\n".join(lines)


# ----- fbh digest -----------------------------------------------------------------------------


@digest_app.command("preview")
def digest_preview(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Write the HTML digest to this file.")],
    consultant: Annotated[
        str | None, typer.Option("--consultant", help="The consultant's e-mail address.")
    ] = None,
    lead: Annotated[bool, typer.Option("--lead", help="The programme lead's digest.")] = False,
    text: Annotated[
        Path | None, typer.Option("--text", help="Also write the plain-text version here.")
    ] = None,
) -> None:
    """Render this week's digest to a file, without queuing anything."""
    if bool(consultant) == lead:
        raise InvalidInputError("give either --consultant EMAIL or --lead")
    fbh = state(ctx).fbh
    now = clock.utcnow()
    if lead:
        digest_l = lead_digest(fbh, now)
        kind, who, context = "digest_lead", digest_l.recipient.email, lead_context(digest_l, fbh.tz)
    else:
        assert consultant is not None
        digest_c = consultant_digest(fbh, consultant.strip().lower(), now)
        kind, who = "digest_consultant", digest_c.recipient.email
        context = consultant_context(digest_c, fbh.tz)
    mail = render_mail(kind, context)
    _write(out, mail.html)
    if text is not None:
        _write(text, mail.text)
    week = iso_week_label(now.astimezone(fbh.tz).date())
    typer.echo(f"wrote the {week} digest for {who} to {out}  (subject: {mail.subject})")


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path}: {exc.strerror}") from None


@digest_app.command("send")
def digest_send(
    ctx: typer.Context,
    consultants: Annotated[
        list[str] | None,
        typer.Option("--consultant", help="Only this consultant (repeatable)."),
    ] = None,
    lead: Annotated[bool, typer.Option("--lead", help="Only the programme lead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue this week's digests in the outbox (once per recipient and ISO week)."""
    fbh = state(ctx).fbh
    if lead and fbh.settings.lead is None:
        raise InvalidInputError("no programme lead configured: set [mail] lead in config.toml")
    chosen = [c.strip().lower() for c in consultants] if consultants else None
    if lead and chosen is None:
        chosen = []
    result = queue_digests(fbh, clock.utcnow(), consultants=chosen, lead=lead or not consultants)
    if as_json:
        emit_json(_queue_json(result))
        return
    typer.echo(
        f"queued {len(result.queued)} digest(s) for {result.week}"
        + (f"; {len(result.already)} already queued this week" if result.already else "")
        + "; deliver them with 'fbh outbox send'"
    )


def _queue_json(result: QueueResult) -> dict[str, Any]:
    return {"week": result.week, "queued": list(result.queued), "already": list(result.already)}
