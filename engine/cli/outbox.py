"""CLI: ``fbh outbox`` (send what is due now, list)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli.common import (
    MAX_ID,
    JsonOption,
    check_choices,
    emit_json,
    local_iso,
    parse_id,
    say,
    state,
)
from engine.cli.formatting import state_label
from engine.cli.i18n import _, ngettext
from engine.cli.progress import progress_bar
from engine.config.settings import Settings
from engine.domain import clock
from engine.domain.errors import (
    ConfigError,
    ConflictError,
    InvalidInputError,
    UnavailableError,
)
from engine.domain.labels import mail_kind_label
from engine.domain.model import OutboxState
from engine.services.delivery_failures import failure_notices, retry_failed
from engine.services.facade import Fbh
from notifications.outbox import OutboxWorker, SendReport, make_transport

if TYPE_CHECKING:
    from engine.store.tables import OutboxMessage

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
        say(
            _("sent {sent}, to retry {retry}, failed {failed}").format(
                sent=report.sent, retry=report.retried, failed=report.failed
            )
        )
    if report.auth_failed:
        raise ConfigError(
            _(
                "the mail server rejected fbh's login; the messages stay pending, no attempt "
                "spent (check mail.smtp.username and FBH_SMTP_PASSWORD): {error}"
            ).format(error=report.auth_failed)
        )
    if report.retried or report.failed:
        first = report.errors[0] if report.errors else _("see 'fbh outbox list'")
        missing = report.retried + report.failed
        summary_line = ngettext(
            "{n} message not delivered ({retry} kept for retry, {failed} failed)",
            "{n} messages not delivered ({retry} kept for retry, {failed} failed)",
            missing,
        ).format(n=missing, retry=report.retried, failed=report.failed)
        if report.unreachable:  # the environment, not the messages: exit 3
            raise UnavailableError(f"{summary_line}: {report.unreachable}")
        raise InvalidInputError(f"{summary_line}: {first}")


async def send_due(fbh: Fbh, settings: Settings) -> SendReport:
    transport = make_transport(settings)
    worker = OutboxWorker(
        fbh.store,
        transport,
        settings,
        worker_id=f"cli:{os.getpid()}",
        on_failed=failure_notices(fbh),
    )
    worker.release_stuck(clock.utcnow())
    fbh.top_up(clock.utcnow())  # reminders come within the horizon since the last run
    with fbh.store.transaction() as tx:
        pending = tx.outbox.counts().get("pending", 0)  # an upper bound on what is due now
    try:
        with progress_bar() as progress:

            def advance(report: SendReport) -> None:
                progress(report.sent + report.retried + report.failed, pending)

            return await worker.drain(clock.utcnow, on_batch=advance)
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
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the newest N messages.", min=1)
    ] = None,
) -> None:
    """List queued, sent and failed messages (times are local, with their offset)."""
    settings = state(ctx).settings
    check_choices(status, [s.value for s in OutboxState], "--state")
    with state(ctx).reader.store.transaction() as tx:
        rows = tx.outbox.find(states=status, programme_id=programme_id, limit=limit)
    data: list[dict[str, Any]] = [
        {
            "id": r.id,
            "kind": r.kind,
            "programme_id": r.programme_id,
            "recipient": r.recipient,
            "subject": _subject(r),
            "state": r.state,
            "due_at": local_iso(r.due_at, settings),
            "attempts": r.attempts,
            "next_attempt_at": local_iso(r.next_attempt_at, settings),
            "sent_at": local_iso(r.sent_at, settings),
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
        say(_("the outbox is empty"))
    for row in data:
        method = f" {row['method']}" if row["method"] else ""
        error = f"  ({row['last_error']})" if row["last_error"] else ""
        due = datetime.fromisoformat(row["due_at"])
        say(
            f"#{row['id']:<6} {state_label(row['state']):<9} {row['kind'] + method:<17} "
            f"{due:%Y-%m-%d %H:%M%z}  {row['recipient']}  {row['subject']}{error}"
        )


def _subject(row: OutboxMessage) -> str:
    from notifications.envelope import subject_of
    from notifications.render import RenderError

    try:
        return subject_of(row)
    except RenderError as exc:  # listed all the same; sending it reports the error
        return f"({exc})"


@outbox_app.command("show")
def outbox_show(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """Show one message: its state, attempts, the last reply of the mail server, its history."""
    settings = state(ctx).settings
    ident = parse_id(message_id, _("message id"))
    with state(ctx).reader.store.transaction() as tx:
        row = tx.outbox.message(ident)
        history = tx.events.of("outbox", ident)
    data: dict[str, Any] = {
        "id": row.id,
        "state": row.state,
        "kind": row.kind,
        "programme_id": row.programme_id,
        "recipient": row.recipient,
        "subject": _subject(row),
        "attempts": row.attempts,
        "max_attempts": settings.mail.max_attempts,
        "due_at": local_iso(row.due_at, settings),
        "next_attempt_at": local_iso(row.next_attempt_at, settings),
        "created_at": local_iso(row.created_at, settings),
        "claimed_at": local_iso(row.claimed_at, settings),
        "claimed_by": row.claimed_by,
        "sent_at": local_iso(row.sent_at, settings),
        "message_id": row.message_id,
        "last_error": row.last_error,
        "events": [
            {
                "at": local_iso(event.at, settings),
                "event": event.event,
                "actor": event.actor,
                "from": event.from_state,
                "to": event.to_state,
                "data": event.data,
            }
            for event in history
        ],
    }
    if as_json:
        emit_json(data)
        return
    labels = [
        ("state", _("state")),
        ("kind", _("kind")),
        ("programme_id", _("programme")),
        ("recipient", _("recipient")),
        ("subject", _("subject")),
        ("message_id", "Message-ID"),
        ("created_at", _("created")),
        ("due_at", _("due")),
        ("next_attempt_at", _("next attempt")),
        ("sent_at", _("sent")),
        ("claimed_by", _("claimed by")),
        ("last_error", _("last error")),
    ]
    kind = mail_kind_label(row.kind)  # its name too: the JSON's and the config's word
    kind = kind if kind == row.kind else f"{kind} ({row.kind})"
    shown = data | {"state": state_label(row.state), "kind": kind}
    say(_("message #{id}").format(id=row.id))
    width = max(len(label) for _key, label in labels) + 2
    for key, label in labels:
        if data[key] is not None:
            say(f"  {label + ':':<{width}}{shown[key]}")
    attempts = _("{attempts} of at most {max}").format(
        attempts=row.attempts, max=settings.mail.max_attempts
    )
    say(f"  {_('attempts') + ':':<{width}}{attempts}")
    if history:
        say(_("events:"))
        for item in data["events"]:
            before, after = (state_label(item[k]) if item[k] else "-" for k in ("from", "to"))
            arrow = f" {before} → {after}" if item["to"] else ""
            say(f"  {item['at']}  {item['event']}{arrow}  ({item['actor']})")


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    message_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed message (instead of one ID).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Put failed messages back to pending: due now, attempts from zero (sent ones are never
    touched)."""
    if (message_id is None) == (not failed):
        raise InvalidInputError(_("give either a message ID or --failed"))
    fbh = state(ctx).fbh
    now = clock.utcnow()
    with fbh.store.transaction() as tx:
        if message_id is not None:
            ident = parse_id(message_id, _("message id"))
            row = tx.outbox.message(ident)
            if row.state != OutboxState.FAILED.value:
                raise ConflictError(
                    _(
                        "message #{id} is {state}, not failed: only failed messages are retried"
                    ).format(id=ident, state=row.state)
                )
            ids = retry_failed(fbh, tx, now, ids=[ident])
        else:
            ids = retry_failed(fbh, tx, now)
    if as_json:
        emit_json({"retried": ids})
        return
    text = ngettext(
        "{count} message put back to pending: {ids}",
        "{count} messages put back to pending: {ids}",
        len(ids),
    )
    shown = ", ".join(f"#{i}" for i in ids[:20]) + (" …" if len(ids) > 20 else "")
    say(text.format(count=len(ids), ids=shown or "-"))
    if ids:
        say(_("a running fbh serve sends them now; else run 'fbh outbox send'"))
