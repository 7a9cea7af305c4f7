"""CLI: ``fbh outbox`` (send what is due now, list)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import typer

from engine.cli.common import (
    MAX_ID,
    JsonOption,
    emit_json,
    state,
)
from engine.config.settings import Settings
from engine.domain import clock
from engine.domain.errors import InvalidInputError, UnavailableError
from engine.services.facade import Fbh
from notifications.outbox import OutboxWorker, SendReport, make_transport

outbox_app = typer.Typer(help="The outbox of e-mails.", no_args_is_help=True)


@outbox_app.command("send")
def outbox_send(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Deliver every message that is due now, then exit."""
    settings = state(ctx).settings
    fbh = state(ctx).fbh
    report = asyncio.run(send_due(fbh, settings))
    summary = {"sent": report.sent, "retry": report.retried, "failed": report.failed}
    if as_json:
        emit_json(summary)
    else:
        typer.echo(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")
    if report.retried or report.failed:
        first = report.errors[0] if report.errors else "see 'fbh outbox list'"
        summary_line = (
            f"{report.retried + report.failed} message(s) not delivered "
            f"({report.retried} kept for retry, {report.failed} failed)"
        )
        if report.unreachable:  # the environment, not the messages: exit 3
            raise UnavailableError(f"{summary_line}: {report.unreachable}")
        raise InvalidInputError(f"{summary_line}: {first}")


async def send_due(fbh: Fbh, settings: Settings) -> SendReport:
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
        rows = tx.outbox.find(states=status, programme_id=programme_id)
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
