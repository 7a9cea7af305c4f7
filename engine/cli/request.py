"""CLI: ``fbh request`` (requests for programmes and their 14-day answer)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.common import (
    JsonOption,
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
    show_programme,
    state_label,
)
from engine.cli.i18n import _, ngettext
from engine.domain import clock
from engine.domain.model import MAX_REASON
from engine.domain.views import RequestView
from engine.services.requests import Acceptance, RequestDesk

request_app = typer.Typer(
    help="Requests for programmes and their 14-day answer.", no_args_is_help=True
)


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
    view = (
        state(ctx)
        .open(create=True)
        .add_request(
            organisation=required_text(org, "--org"),
            contact=parse_contact(contact, "--contact"),
            wished_start=parse_date(wished_start, "--wished-start"),
            received=parse_date(received, "--received") if received is not None else None,
            now=clock.utcnow(),
            workflow=workflow,
        )
    )
    if as_json:
        emit_json(view.to_json())
    else:
        say(
            _("request {id}: answer by {deadline} ({left})").format(
                id=view.id, deadline=view.deadline, left=days_left_text(view)
            )
        )


@request_app.command("list")
def request_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List requests with their deadlines."""
    views = state(ctx).reader.list_requests(clock.utcnow())
    if as_json:
        emit_json([v.to_json() for v in views])
        return
    if not views:
        say(_("no requests"))
    for v in views:
        flag = "  " + _("OVERDUE") if v.breached else ""
        dates = _("received {received}  deadline {deadline}").format(
            received=v.received, deadline=v.deadline
        )
        say(
            f"#{v.id:<5} {state_label(v.state):<9} {dates} "
            f"({days_left_text(v)})  {v.organisation}  {v.contact}{flag}"
        )


def _desk(ctx: typer.Context) -> RequestDesk:
    return state(ctx).fbh.requests


def _show_request(view: RequestView, what: str, as_json: bool) -> None:
    if as_json:
        emit_json(view.to_json())
    else:
        request = _("request {id}").format(id=view.id)
        say(f"{request}: {what} [{state_label(view.state)}]")


@request_app.command("propose")
def request_propose(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    starts: Annotated[
        list[str], typer.Option("--start", help="A proposed start date, YYYY-MM-DD (repeat).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Mail the contact proposed start dates, each with its expected workshop window."""
    dates = [parse_date(text, "--start") for text in starts]
    view = _desk(ctx).propose(parse_id(request_id, "request id"), dates, clock.utcnow())
    listed = ", ".join(d.isoformat() for d in sorted(set(dates)))
    proposed = _("proposed {dates} to {contact}").format(dates=listed, contact=view.contact)
    _show_request(view, proposed, as_json)


@request_app.command("accept")
def request_accept(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    start: Annotated[str, typer.Option("--start", help="Start date, YYYY-MM-DD.")],
    consultant: Annotated[str, typer.Option("--consultant", help='"Name <email>"')],
    tovholder: Annotated[str, typer.Option("--tovholder", help='"Name <email>"')],
    municipality: Annotated[str, typer.Option("--municipality", help="Kommune.")],
    extensions: Annotated[list[str] | None, typer.Option("--with", help="Extension.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accept a request: create its programme and link it."""
    place = required_text(municipality, "--municipality")
    acceptance = Acceptance(
        start=parse_date(start, "--start"),
        consultant=parse_contact(consultant, "--consultant"),
        tovholder=parse_contact(tovholder, "--tovholder"),
        municipality=place,
        extensions=tuple(extensions or ()),
    )
    view, programme = _desk(ctx).accept(
        parse_id(request_id, "request id"), acceptance, clock.utcnow()
    )
    settings = state(ctx).settings
    if as_json:
        emit_json(view.to_json() | {"programme": programme.to_json(settings.tz)})
        return
    say(
        _("request {id}: accepted; programme {programme} created").format(
            id=view.id, programme=programme.id
        )
        + "\n"
    )
    show_programme(programme, settings, False)


@request_app.command("decline")
def request_decline(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Kept in the event log.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Decline (or close) a request; its reminders are cancelled."""
    reason = optional_text(reason, "--reason", MAX_REASON, multiline=True)
    view = _desk(ctx).decline(parse_id(request_id, "request id"), reason, clock.utcnow())
    _show_request(view, _("declined"), as_json)


@request_app.command("assign")
def request_assign(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    consultant: Annotated[str, typer.Option("--consultant", help='"Name <email>"')],
    as_json: JsonOption = False,
) -> None:
    """Give a request to a consultant; the deadline reminders go to them."""
    who = parse_contact(consultant, "--consultant")
    view = _desk(ctx).assign(parse_id(request_id, "request id"), who, clock.utcnow())
    _show_request(view, _("assigned to {who}").format(who=who), as_json)


def days_left_text(view: RequestView) -> str:
    """``2 days left``, ``answer today``, ``3 days past the deadline`` (never ``-3 days left``)."""
    days = view.days_left
    if days < 0:
        late = ngettext("{n} day past the deadline", "{n} days past the deadline", -days)
        return late.format(n=-days)
    if days == 0:
        return _("the deadline is today")
    return ngettext("{n} day left", "{n} days left", days).format(n=days)
