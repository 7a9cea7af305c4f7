"""CLI: inbound mail (``fbh inbox process``, ``fbh inbox list``); see docs/inbound.md."""

from __future__ import annotations

import typer

from engine.cli.common import JsonOption, emit_json, say, state
from engine.cli.i18n import _
from engine.domain import clock
from engine.services.inbox import InboxDesk, inbox_json, make_mailbox

inbox_app = typer.Typer(help="Inbound mail: answers, requests and bounces.", no_args_is_help=True)


@inbox_app.command("process")
def inbox_process(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """One pass over the inbox, then exit (``fbh serve`` does this continuously)."""
    settings = state(ctx).settings
    desk = InboxDesk(state(ctx).open(create=True))
    mailbox = make_mailbox(settings)
    try:
        report = desk.process(mailbox, clock.utcnow(), limit=10_000)
    finally:
        mailbox.close()
    if as_json:
        emit_json(
            {
                "processed": report.processed,
                "set_aside": report.set_aside,
                "already": report.already,
                "kinds": report.kinds,
            }
        )
        return
    line = _("{processed} processed, {set_aside} set aside").format(
        processed=report.processed, set_aside=report.set_aside
    )
    if report.already:
        line += _(", {already} already processed").format(already=report.already)
    say(line)


@inbox_app.command("list")
def inbox_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The messages read from the inbox, and why any was set aside."""
    rows = InboxDesk(state(ctx).reader).list()
    if as_json:
        emit_json([inbox_json(row) for row in rows])
        return
    if not rows:
        say(_("no e-mails in the inbox"))
    tz = state(ctx).settings.tz
    for row in rows:
        at = row.received.astimezone(tz).isoformat(timespec="minutes")
        say(
            f"{at}  {row.kind:<10} {row.state:<9} {row.sender or '-':<32} {row.reason}"
            f"  {row.message_id}"
        )
