"""CLI: the daemon (``fbh serve``, ``fbh status``) and the request SLA commands."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from engine.cli.app import (
    JsonOption,
    app,
    emit_json,
    parse_contact,
    parse_date,
    parse_id,
    request_app,
    show_programme,
    state,
)
from engine.daemon.runner import Daemon, daemon_name
from engine.domain import clock
from engine.domain.errors import InvalidInputError
from engine.domain.views import RequestView
from engine.services.programmes import Fbh
from engine.services.requests import Acceptance, RequestDesk
from engine.services.status import format_status, gather
from notifications.outbox import make_transport
from notifications.transports import Transport

log = logging.getLogger(__name__)

# ----- the daemon -----------------------------------------------------------------------------


@app.command("serve")
def serve(ctx: typer.Context) -> None:
    """Run the daemon until SIGTERM or SIGINT (migrates the database first)."""
    _serve_logging(ctx.find_root().params.get("verbose", 0) or 0)
    settings = state(ctx).settings
    name = daemon_name(settings.daemon.name)
    transport = make_transport(settings)
    fbh = Fbh.open(settings, actor=name)
    try:
        asyncio.run(_serve(fbh, transport, name))
    finally:
        fbh.store.dispose()


async def _serve(fbh: Fbh, transport: Transport, name: str) -> None:
    daemon = Daemon(fbh, transport, name=name)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, daemon.stop)
    try:
        await daemon.run()
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
        await transport.aclose()


def _serve_logging(verbose: int) -> None:
    """The daemon logs at INFO (one ``ready`` line, transitions, sends); -vv adds APScheduler."""
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Daemons alive, the leader, pending and failed messages, and the next job due."""
    settings = state(ctx).settings
    report = gather(state(ctx).fbh, clock.utcnow())
    if as_json:
        emit_json(report.to_json())
    else:
        typer.echo(format_status(report, settings.tz))


# ----- requests -------------------------------------------------------------------------------


def _desk(ctx: typer.Context) -> RequestDesk:
    return RequestDesk(state(ctx).fbh)


def _show_request(view: RequestView, what: str, as_json: bool) -> None:
    if as_json:
        emit_json(view.to_json())
    else:
        typer.echo(f"request {view.id}: {what} [{view.state}]")


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
    _show_request(view, f"proposed {listed} to {view.contact}", as_json)


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
    place = " ".join(municipality.split())
    if not place:
        raise InvalidInputError("--municipality must not be empty")
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
    typer.echo(f"request {view.id}: accepted; programme {programme.id} created\n")
    show_programme(programme, settings, False)


@request_app.command("decline")
def request_decline(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Kept in the event log.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Decline (or close) a request; its reminders are cancelled."""
    view = _desk(ctx).decline(parse_id(request_id, "request id"), reason, clock.utcnow())
    _show_request(view, "declined", as_json)


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
    _show_request(view, f"assigned to {who}", as_json)
