"""CLI: ``fbh programme`` (create, show, list, edit, cancel, pause, resume, move, link)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli.common import (
    JsonOption,
    check_choices,
    clean,
    emit_json,
    optional_text,
    parse_contact,
    parse_date,
    parse_id,
    required_text,
    say,
    state,
)
from engine.cli.formatting import (
    format_move,
    show_programme,
    state_label,
)
from engine.cli.i18n import _, ngettext
from engine.cli.programme_link import programme_link
from engine.domain import clock
from engine.domain.errors import ConflictError, InvalidInputError
from engine.domain.model import MAX_REASON, ProgrammeState
from engine.domain.views import ProgrammeView

if TYPE_CHECKING:  # the read commands do not load the services (docs/benchmarks.md)
    from engine.domain.planning import PlannedMilestone
    from engine.services.facade import Fbh, MoveResult, NewProgramme

PAST_GRACE_DAYS = 7  # a start this many days back is still "now" (a late registration)

programme_app = typer.Typer(help="Programmes (forløb).", no_args_is_help=True)


@programme_app.command("create")
def programme_create(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Option("--workflow", help="Workflow key.")],
    org: Annotated[str, typer.Option("--org", help="Housing organisation.")],
    municipality: Annotated[str, typer.Option("--municipality", help="Kommune.")],
    consultant: Annotated[str, typer.Option("--consultant", help='"Name <email>"')],
    tovholder: Annotated[str, typer.Option("--tovholder", help='"Name <email>"')],
    start: Annotated[str, typer.Option("--start", help="Start date, YYYY-MM-DD.")],
    extensions: Annotated[list[str] | None, typer.Option("--with", help="Extension.")] = None,
    allow_past: Annotated[
        bool,
        typer.Option("--allow-past", help="Register a programme already under way."),
    ] = False,
    duplicate: Annotated[
        bool,
        typer.Option("--duplicate", help="Allow a second identical active programme."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a programme, plan it and queue its invites."""
    from engine.services.facade import NewProgramme

    new = NewProgramme(
        workflow=workflow,
        organisation=required_text(org, "--org"),
        municipality=required_text(municipality, "--municipality"),
        consultant=parse_contact(consultant, "--consultant"),
        tovholder=parse_contact(tovholder, "--tovholder"),
        start=parse_date(start, "--start"),
        extensions=tuple(extensions or ()),
    )
    fbh, now = state(ctx).open(create=True), clock.utcnow()
    if not allow_past:
        check_not_past(new.start, fbh.today(now))
    if not duplicate:
        check_not_duplicate(fbh, new)
    view = fbh.create_programme(new, now)
    show_programme(view, state(ctx).settings, as_json)
    past = [m.planned for m in view.milestones if _is_past(m.planned, now, fbh.today(now))]
    if past:
        keys = ", ".join(m.key for m in past)
        note = ngettext(
            "note: {count} milestone lies in the past ({keys}): no mail is sent for it",
            "note: {count} milestones lie in the past ({keys}): no mail is sent for them",
            len(past),
        )
        say(note.format(count=len(past), keys=keys), err=True)


def check_not_past(start: date, today: date) -> None:
    earliest = today - timedelta(days=PAST_GRACE_DAYS)
    if start < earliest:
        raise InvalidInputError(
            _(
                "--start {start} lies more than {days} days in the past (today is {today}); "
                "use --allow-past to register a programme already under way"
            ).format(start=start, days=PAST_GRACE_DAYS, today=today)
        )


def check_not_duplicate(fbh: Fbh, new: NewProgramme) -> None:
    live = [ProgrammeState.PLANNED, ProgrammeState.RUNNING, ProgrammeState.PAUSED]
    organisation = " ".join(new.organisation.split()).casefold()
    for view in fbh.list_programmes(states=[s.value for s in live]):
        if (
            view.workflow == new.workflow
            and view.start == new.start
            and " ".join(view.organisation.split()).casefold() == organisation
        ):
            raise ConflictError(
                _(
                    "programme {id} already runs {workflow} for {organisation} from {start}; "
                    "use --duplicate to create another"
                ).format(
                    id=view.id,
                    workflow=new.workflow,
                    organisation=view.organisation,
                    start=new.start,
                )
            )


def _is_past(planned: PlannedMilestone, now: datetime, today: date) -> bool:
    if planned.end is not None:
        return planned.end <= now
    return planned.window_end < today


@programme_app.command("show")
def programme_show(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
    events: Annotated[bool, typer.Option("--events", help="Include the event log.")] = False,
) -> None:
    """Show a programme."""
    ident = parse_id(programme_id)
    settings = state(ctx).settings
    from engine.services.reads import show_programme as lean_show

    view = (
        None if events else lean_show(settings.database_url, settings.tz, ident, settings.calendar)
    )
    if view is None:  # the event log, or no SQLite file at the newest schema
        view = state(ctx).reader.show(ident)
    if as_json:
        data = view.to_json(state(ctx).settings.tz)
        if events:
            data["events"] = state(ctx).reader.events(ident)
        emit_json(data)
        return
    show_programme(view, state(ctx).settings, False)
    if events:
        say("\n" + _("events:"))
        for event in state(ctx).reader.events(ident):
            before, after = (state_label(event[k]) if event[k] else "-" for k in ("from", "to"))
            arrow = f" {before} → {after}" if event["to"] else ""
            what = event["data"].get("milestone", _("programme"))
            say(f"  {event['at']}  {event['actor']:<16} {what:<32} {event['event']}{arrow}")


@programme_app.command("list")
def programme_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    status: Annotated[list[str] | None, typer.Option("--state", help="Only these states.")] = None,
) -> None:
    """List programmes."""
    settings = state(ctx).settings
    check_choices(status, [s.value for s in ProgrammeState], "--state")
    from engine.services.reads import list_programmes

    views = list_programmes(settings.database_url, settings.tz, states=status)
    if views is None:  # no SQLite file at the newest schema: the read-only store answers
        views = state(ctx).reader.list_programmes(states=status)
    if as_json:
        emit_json([v.to_json(settings.tz) for v in views])
        return
    if not views:
        say(_("no programmes"))
    for v in views:
        say(
            f"#{v.id:<5} {v.workflow:<18} {state_label(v.state):<10} {v.start} – {v.end}  "
            f"{v.organisation} ({v.municipality})  {v.consultant.email}"
        )


def _programme_action(
    ctx: typer.Context, programme_id: str, action: Callable[[Fbh, int, datetime], ProgrammeView]
) -> None:
    view = action(state(ctx).fbh, parse_id(programme_id), clock.utcnow())
    say(_("programme {id}: {state}").format(id=view.id, state=state_label(view.state)))


@programme_app.command("cancel")
def programme_cancel(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Told to the people involved.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Cancel a programme; future meetings are cancelled in every calendar.

    On a terminal it asks first (--yes skips the question); from a script (stdin not a
    terminal) it cancels without asking, as before."""
    ident = parse_id(programme_id)
    reason = optional_text(reason, "--reason", MAX_REASON, multiline=True)
    if not yes and sys.stdin.isatty():
        view = state(ctx).fbh.show(ident)
        question = _(
            "Cancel programme {id} ({workflow}, {organisation})? Everyone gets a cancellation"
        ).format(id=view.id, workflow=view.workflow_title, organisation=view.organisation)
        if not typer.confirm(clean(question), default=False):
            say(_("nothing changed"))
            raise typer.Exit(1)
    _programme_action(ctx, programme_id, lambda f, i, now: f.cancel(i, now, reason=reason))


@programme_app.command("edit")
def programme_edit(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    tovholder: Annotated[
        str | None, typer.Option("--tovholder", help='The new tovholder: "Name <email>".')
    ] = None,
    consultant: Annotated[
        str | None, typer.Option("--consultant", help='The new consultant: "Name <email>".')
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Hand a role over: future meetings are cancelled for the old person and sent to the
    new one."""
    view, changes = state(ctx).fbh.edit_programme(
        parse_id(programme_id),
        clock.utcnow(),
        tovholder=parse_contact(tovholder, "--tovholder") if tovholder is not None else None,
        consultant=parse_contact(consultant, "--consultant") if consultant is not None else None,
    )
    if as_json:
        data = view.to_json(state(ctx).settings.tz)
        data["handovers"] = [
            {"role": c.role.value, "from": str(c.old), "to": str(c.new), "meetings": c.meetings}
            for c in changes
        ]
        emit_json(data)
        return
    if not changes:
        say(_("programme {id}: nothing changed").format(id=view.id))
    for change in changes:
        say(
            _("programme {id}: {role} {old} → {new}; {n} future meetings moved").format(
                id=view.id,
                role=_("tovholder") if change.role.value == "tovholder" else _("consultant"),
                old=change.old,
                new=change.new,
                n=change.meetings,
            )
        )


@programme_app.command("pause")
def programme_pause(
    ctx: typer.Context, programme_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Pause a programme: reminders are held, dates and invites are kept."""
    _programme_action(ctx, programme_id, lambda f, i, now: f.pause(i, now))


@programme_app.command("resume")
def programme_resume(
    ctx: typer.Context, programme_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Resume a paused programme: reminders that still lie ahead are queued again."""
    _programme_action(ctx, programme_id, lambda f, i, now: f.resume(i, now))


@programme_app.command("move")
def programme_move(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    start: Annotated[str, typer.Option("--start", help="New start date, YYYY-MM-DD.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the changes.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Give a programme a new start; every milestone not done is re-planned."""
    result = state(ctx).fbh.move(
        parse_id(programme_id), parse_date(start, "--start"), clock.utcnow(), dry_run=dry_run
    )
    if as_json:
        emit_json(_move_json(result))
        return
    say(format_move(result))


def _move_json(result: MoveResult) -> dict[str, Any]:
    return {
        "id": result.programme_id,
        "from": result.old_start.isoformat(),
        "to": result.new_start.isoformat(),
        "applied": result.applied,
        "changes": [c.to_json() for c in result.changes],
    }


programme_app.command("link")(programme_link)
