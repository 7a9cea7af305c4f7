"""The ``fbh`` command line. Logging is configured here and nowhere else.

Exit codes: 0 success; 2 user error (one ``error: …`` line on stderr, no traceback);
1 unexpected failure. With ``--json`` exactly one JSON document goes to stdout.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import sys
import traceback
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from engine.config.settings import Settings, load_settings
from engine.domain import clock
from engine.domain.definitions import check_paths, load_registry
from engine.domain.errors import FbhError, InvalidInputError
from engine.domain.model import Contact
from engine.domain.planning import Plan, plan_to_json
from engine.domain.views import ProgrammeView
from engine.domain.workdays import iso_week
from engine.services.programmes import Fbh, MoveResult, NewProgramme, Planner
from notifications.outbox import OutboxWorker, SendReport, make_transport

log = logging.getLogger(__name__)

WEEKDAYS_DA = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")

app = typer.Typer(
    name="fbh",
    help="fbh: the programme engine of 'Fra bolig til hjem'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)
programme_app = typer.Typer(help="Programmes (forløb).", no_args_is_help=True)
milestone_app = typer.Typer(help="Milestones of a programme.", no_args_is_help=True)
app.add_typer(workflows_app, name="workflows")
app.add_typer(programme_app, name="programme")
outbox_app = typer.Typer(help="The outbox of e-mails.", no_args_is_help=True)
request_app = typer.Typer(
    help="Requests for programmes and their 14-day answer.", no_args_is_help=True
)
app.add_typer(milestone_app, name="milestone")
app.add_typer(outbox_app, name="outbox")
app.add_typer(request_app, name="request")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


class State:
    """Per-invocation context: the config path and lazily opened services."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._fbh: Fbh | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @property
    def fbh(self) -> Fbh:
        if self._fbh is None:
            self._fbh = Fbh.open(self.settings, actor=actor_name())
        return self._fbh


def actor_name() -> str:
    return os.environ.get("FBH_ACTOR") or f"cli:{getpass.getuser()}"


def state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option("--config", envvar="FBH_CONFIG", help="Path to config.toml."),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")] = 0,
) -> None:
    configure_logging(verbose)
    ctx.obj = State(config)


def configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# ----- parsing helpers ------------------------------------------------------------------------


# Dates the engine can compute with: week arithmetic, reminders and time zones stay well inside
# Python's date range (years 1-9999), so a typo such as year 9999 is one line, not a crash.
FIRST_YEAR, LAST_YEAR = 1970, 2999
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)


def _check_year(value: date, text: str, what: str, kind: str) -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInputError(
            f"invalid {kind} {text!r} for {what}: the year must be {FIRST_YEAR}–{LAST_YEAR}"
        )


def parse_date(text: str, what: str) -> date:
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"invalid date {text!r} for {what}: expected YYYY-MM-DD") from None
    _check_year(value, text, what, "date")
    return value


def parse_datetime(text: str, what: str, settings: Settings) -> datetime:
    """ISO 8601; without an offset it is local time in the configured zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"invalid date and time {text!r} for {what}: expected e.g. 2027-03-09T09:00 "
            "or 2027-03-09T09:00+01:00"
        ) from None
    _check_year(value, text, what, "date and time")
    return value.replace(tzinfo=settings.tz) if value.tzinfo is None else value


def parse_contact(text: str, what: str) -> Contact:
    try:
        return Contact.parse(text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from None


def parse_id(text: str, what: str = "programme id") -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):  # int() would also take '1_0' and '١'
        raise InvalidInputError(f"invalid {what} {text!r}: expected a whole number")
    value = int(digits)
    if value <= 0:
        raise InvalidInputError(f"invalid {what} {text!r}: expected a positive number")
    if value > MAX_ID:
        raise InvalidInputError(f"invalid {what} {text!r}: no id is larger than {MAX_ID}")
    return value


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


# ----- workflows ------------------------------------------------------------------------------


@workflows_app.command("check")
def workflows_check(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
) -> None:
    """Validate definitions; print each problem as 'file: key.path: message'."""
    targets = list(paths) if paths else [state(ctx).settings.workflows_dir]
    problems = check_paths(targets)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        raise typer.Exit(2)
    typer.echo(f"ok: {', '.join(str(t) for t in targets)}")


@workflows_app.command("list")
def workflows_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the workflows with their versions."""
    registry = load_registry(state(ctx).settings.workflows_dir)
    rows = [
        {
            "key": d.key,
            "version": d.version,
            "title": d.title,
            "weeks": d.weeks,
            "milestones": len(d.milestones),
            "extends": d.extends.workflow if d.extends else None,
            "requires": list(d.requires),
        }
        for d in registry
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        extra = f"  extends {row['extends']}" if row["extends"] else ""
        typer.echo(f"{row['key']:<20} {row['version']:<20} {row['title']}{extra}")


# ----- plan -----------------------------------------------------------------------------------


@app.command("plan")
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
        typer.echo(format_plan(plan, settings))


def format_plan(plan: Plan, settings: Settings) -> str:
    lines = [
        f"{plan.workflow}"
        + (f" + {', '.join(plan.extensions)}" if plan.extensions else "")
        + f": {_da_date(plan.start)} – {_da_date(plan.end)}",
        "",
        f"{'uge':>5}  {'ISO-uge':<9} {'milepæl':<34} {'vindue':<31} {'tid'}",
    ]
    for m in plan.milestones:
        lines.append(_plan_row(m, settings))
    return "\n".join(lines)


def _plan_row(m: Any, settings: Settings) -> str:
    first, last = m.weeks
    rel = f"{first}" if first == last else f"{first}–{last}"
    iso_first, iso_last = iso_week(m.window_start)[1], iso_week(m.window_end)[1]
    iso = f"{iso_first}" if iso_first == iso_last else f"{iso_first}–{iso_last}"
    window = f"{_da_date(m.window_start)} – {_da_date(m.window_end)}"
    when = ""
    if m.start is not None and m.end is not None:
        start, end = m.start.astimezone(settings.tz), m.end.astimezone(settings.tz)
        when = f"{_da_date(start.date())} {start:%H.%M}–{end:%H.%M}"
    title = m.title if len(m.title) <= 34 else m.title[:33] + "…"
    return f"{rel:>5}  {'uge ' + iso:<9} {title:<34} {window:<31} {when}".rstrip()


def _da_date(day: date) -> str:
    return f"{WEEKDAYS_DA[day.weekday()][:3]} {day.isoformat()}"


# ----- programmes -----------------------------------------------------------------------------


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
    as_json: JsonOption = False,
) -> None:
    """Create a programme, plan it and queue its invites."""
    new = NewProgramme(
        workflow=workflow,
        organisation=_required_text(org, "--org"),
        municipality=_required_text(municipality, "--municipality"),
        consultant=parse_contact(consultant, "--consultant"),
        tovholder=parse_contact(tovholder, "--tovholder"),
        start=parse_date(start, "--start"),
        extensions=tuple(extensions or ()),
    )
    view = state(ctx).fbh.create_programme(new, clock.utcnow())
    show_programme(view, state(ctx).settings, as_json)


def _required_text(value: str, what: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInputError(f"{what} must not be empty")
    if any(unicodedata.category(c) == "Cc" for c in cleaned):  # NUL, ESC, ... (not line breaks)
        raise InvalidInputError(f"{what} {value!r}: control characters are not allowed")
    if len(cleaned) > 200:
        raise InvalidInputError(f"{what} is longer than 200 characters")
    return cleaned


@programme_app.command("show")
def programme_show(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
    events: Annotated[bool, typer.Option("--events", help="Include the event log.")] = False,
) -> None:
    """Show a programme."""
    fbh = state(ctx).fbh
    ident = parse_id(programme_id)
    view = fbh.show(ident)
    if as_json:
        data = view.to_json(state(ctx).settings.tz)
        if events:
            data["events"] = fbh.events(ident)
        emit_json(data)
        return
    show_programme(view, state(ctx).settings, False)
    if events:
        typer.echo("\nhændelser:")
        for event in fbh.events(ident):
            arrow = f" {event['from'] or '-'} → {event['to'] or '-'}" if event["to"] else ""
            what = event["data"].get("milestone", "programme")
            typer.echo(f"  {event['at']}  {event['actor']:<16} {what:<32} {event['event']}{arrow}")


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
        f"  {_da_date(view.start)} – {_da_date(view.end)}  (version {view.version})\n"
    )
    for m in view.milestones:
        typer.echo(f"{_plan_row(m.planned, settings)}  [{m.state}]")


@programme_app.command("list")
def programme_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    status: Annotated[list[str] | None, typer.Option("--state", help="Only these states.")] = None,
) -> None:
    """List programmes."""
    settings = state(ctx).settings
    views = state(ctx).fbh.list_programmes(states=status)
    if as_json:
        emit_json([v.to_json(settings.tz) for v in views])
        return
    if not views:
        typer.echo("no programmes")
    for v in views:
        typer.echo(
            f"#{v.id:<5} {v.workflow:<18} {v.state:<10} {v.start} – {v.end}  "
            f"{v.organisation} ({v.municipality})  {v.consultant.email}"
        )


def _programme_action(
    ctx: typer.Context, programme_id: str, action: Callable[[Fbh, int, datetime], ProgrammeView]
) -> None:
    view = action(state(ctx).fbh, parse_id(programme_id), clock.utcnow())
    typer.echo(f"programme {view.id}: {view.state}")


@programme_app.command("cancel")
def programme_cancel(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Told to the people involved.")] = "",
) -> None:
    """Cancel a programme; future meetings are cancelled in every calendar."""
    _programme_action(ctx, programme_id, lambda f, i, now: f.cancel(i, now, reason=reason))


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
    typer.echo(format_move(result))


def _move_json(result: MoveResult) -> dict[str, Any]:
    return {
        "id": result.programme_id,
        "from": result.old_start.isoformat(),
        "to": result.new_start.isoformat(),
        "applied": result.applied,
        "changes": [c.to_json() for c in result.changes],
    }


def format_move(result: MoveResult) -> str:
    head = "would move" if not result.applied else "moved"
    lines = [f"programme {result.programme_id}: {head} {result.old_start} → {result.new_start}"]
    if not result.changes:
        lines.append("  no dates change")
    for c in result.changes:
        lines.append(f"  {c.workflow}.{c.key:<14} {c.field:<13} {c.before} → {c.after}")
    return "\n".join(lines)


# ----- milestones -----------------------------------------------------------------------------


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


# ----- outbox ---------------------------------------------------------------------------------


@outbox_app.command("send")
def outbox_send(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Deliver every message that is due now, then exit."""
    settings = state(ctx).settings
    fbh = state(ctx).fbh
    report = asyncio.run(_send_due(fbh, settings))
    summary = {"sent": report.sent, "retry": report.retried, "failed": report.failed}
    if as_json:
        emit_json(summary)
    else:
        typer.echo(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")
    if report.retried or report.failed:
        first = report.errors[0] if report.errors else "see 'fbh outbox list'"
        raise InvalidInputError(
            f"{report.retried + report.failed} message(s) not delivered "
            f"({report.retried} kept for retry, {report.failed} failed): {first}"
        )


async def _send_due(fbh: Fbh, settings: Settings) -> SendReport:
    transport = make_transport(settings)
    worker = OutboxWorker(fbh.store, transport, settings, worker_id=f"cli:{os.getpid()}")
    worker.release_stuck(clock.utcnow())
    try:
        return await worker.drain(clock.utcnow)
    finally:
        await transport.aclose()


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    status: Annotated[list[str] | None, typer.Option("--state", help="Only these states.")] = None,
    programme_id: Annotated[
        int | None, typer.Option("--programme", help="Only this one.", min=1, max=MAX_ID)
    ] = None,
) -> None:
    """List queued, sent and failed messages."""
    with state(ctx).fbh.store.transaction() as tx:
        rows = tx.outbox(states=status, programme_id=programme_id)
    data: list[dict[str, Any]] = [
        {
            "id": r.id,
            "kind": r.kind,
            "programme_id": r.programme_id,
            "recipient": r.recipient,
            "state": r.state,
            "due_at": r.due_at.isoformat(),
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at.isoformat(),
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            "message_id": r.message_id,
            "method": (r.payload.get("invite") or {}).get("method"),
            "last_error": r.last_error,
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
        return
    if not data:
        typer.echo("the outbox is empty")
    for row in data:
        method = f" {row['method']}" if row["method"] else ""
        error = f"  ({row['last_error']})" if row["last_error"] else ""
        typer.echo(
            f"#{row['id']:<6} {row['state']:<9} {row['kind'] + method:<17} {row['due_at'][:16]}  "
            f"{row['recipient']}{error}"
        )


# ----- requests -------------------------------------------------------------------------------


@request_app.command("add")
def request_add(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Housing organisation.")],
    contact: Annotated[str, typer.Option("--contact", help='"Name <email>"')],
    wished_start: Annotated[str, typer.Option("--wished-start", help="YYYY-MM-DD")],
    received: Annotated[str | None, typer.Option("--received", help="Default: today.")] = None,
    workflow: Annotated[str, typer.Option("--workflow")] = "socialt-beredskab",
    as_json: JsonOption = False,
) -> None:
    """Register a request; it must be answered within 14 days of receipt."""
    view = state(ctx).fbh.add_request(
        organisation=_required_text(org, "--org"),
        contact=parse_contact(contact, "--contact"),
        wished_start=parse_date(wished_start, "--wished-start"),
        received=parse_date(received, "--received") if received is not None else None,
        now=clock.utcnow(),
        workflow=workflow,
    )
    if as_json:
        emit_json(view.to_json())
    else:
        typer.echo(f"request {view.id}: answer by {view.deadline} ({view.days_left} days left)")


@request_app.command("list")
def request_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List requests with their deadlines."""
    views = state(ctx).fbh.list_requests(clock.utcnow())
    if as_json:
        emit_json([v.to_json() for v in views])
        return
    if not views:
        typer.echo("no requests")
    for v in views:
        flag = "  OVERSKREDET" if v.breached else ""
        typer.echo(
            f"#{v.id:<5} {v.state:<9} modtaget {v.received}  frist {v.deadline} "
            f"({v.days_left:+d} dage)  {v.organisation}  {v.contact}{flag}"
        )


# ----- demo -----------------------------------------------------------------------------------


DEMO_CONSULTANT = Contact("Anne Konsulent", "anne.konsulent@bl.dk")
DEMO_PROGRAMMES = (
    (
        "Boligselskabet Østervang",
        "Helsingør",
        Contact("Søren Tovholder", "soren@oestervang.dk"),
        (),
    ),
    ("Fællesbo Århus", "Aarhus", Contact("Åse Ærø", "aase@faellesbo.dk"), ("tilpasset",)),
)


@app.command("demo")
def demo(ctx: typer.Context) -> None:
    """Create two sample programmes (once) and deliver their mail to the configured Maildir."""
    settings = state(ctx).settings
    fbh = state(ctx).fbh
    now = clock.utcnow()
    today = now.astimezone(settings.tz).date()
    monday = today + timedelta(days=7 - today.weekday())
    existing = {v.organisation: v for v in fbh.list_programmes()}
    for organisation, municipality, tovholder, extensions in DEMO_PROGRAMMES:
        view = existing.get(organisation) or fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=organisation,
                municipality=municipality,
                consultant=DEMO_CONSULTANT,
                tovholder=tovholder,
                start=monday,
                extensions=extensions,
            ),
            now,
        )
        show_programme(view, settings, False)
        typer.echo("")
    report = asyncio.run(_send_due(fbh, settings))
    typer.echo(f"sent {report.sent} e-mails to {settings.maildir_path}")


# ----- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    for arg in args:  # bytes that are not UTF-8 arrive as lone surrogates; nothing can store them
        if any("\ud800" <= char <= "\udfff" for char in arg):
            _fail(f"argument {arg!r} is not valid UTF-8 text", 2)
    try:
        result = command.main(args=args, prog_name="fbh", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare group: show its help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        _fail(exc.format_message(), 2)
    except typer.Abort:
        _fail("aborted", 130)
    except FbhError as exc:
        log.debug("user error", exc_info=True)
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("FBH_DEBUG"):
            traceback.print_exc()
        _fail(f"unexpected {type(exc).__name__}: {exc} (set FBH_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"error: {one_line}\n")
    sys.exit(code)


# Command groups that live in their own modules register themselves on ``app`` on import.
from engine.cli import daemon as cli_daemon  # noqa: E402, F401
from engine.cli import time as cli_time  # noqa: E402, F401
