"""CLI: the weekly digests (``fbh digest``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from engine.cli.common import (
    JsonOption,
    emit_json,
    parse_contact,
    say,
    state,
)
from engine.cli.i18n import _, ngettext
from engine.cli.progress import progress_bar
from engine.domain import clock
from engine.domain.digest import iso_week_label
from engine.domain.errors import InvalidInputError
from engine.services.digests import QueueResult, consultant_digest, lead_digest, queue_digests
from notifications.digests import consultant_context, lead_context
from notifications.render import render_mail

digest_app = typer.Typer(help="Weekly e-mail digests.", no_args_is_help=True)

# ----- fbh digest -----------------------------------------------------------------------------


@digest_app.command("preview")
def digest_preview(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Write the HTML digest to this file.")],
    consultant: Annotated[
        str | None,
        typer.Option("--consultant", help='The consultant: an e-mail address or "Name <email>".'),
    ] = None,
    lead: Annotated[bool, typer.Option("--lead", help="The programme lead's digest.")] = False,
    text: Annotated[
        Path | None, typer.Option("--text", help="Also write the plain-text version here.")
    ] = None,
) -> None:
    """Render this week's digest to a file, without queuing anything."""
    if bool(consultant) == lead:
        raise InvalidInputError(_("give either --consultant EMAIL or --lead"))
    fbh = state(ctx).reader
    now = clock.utcnow()
    if lead:
        digest_l = lead_digest(fbh, now)
        kind, who, context = "digest_lead", digest_l.recipient.email, lead_context(digest_l, fbh.tz)
    else:
        assert consultant is not None
        address = parse_contact(consultant, "--consultant").email.lower()
        digest_c = consultant_digest(fbh, address, now)
        kind, who = "digest_consultant", digest_c.recipient.email
        context = consultant_context(digest_c, fbh.tz)
    mail = render_mail(kind, context)
    _write(out, mail.html)
    if text is not None:
        _write(text, mail.text)
    week = iso_week_label(now.astimezone(fbh.tz).date())
    say(
        _("wrote the {week} digest for {who} to {out}  (subject: {subject})").format(
            week=week, who=who, out=out, subject=mail.subject
        )
    )


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            _("cannot write {path}: {error}").format(path=path, error=exc.strerror)
        ) from None


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
        raise InvalidInputError(_("no programme lead configured: set [mail] lead in config.toml"))
    chosen = [c.strip().lower() for c in consultants] if consultants else None
    if lead and chosen is None:
        chosen = []
    with progress_bar() as progress:
        result = queue_digests(
            fbh,
            clock.utcnow(),
            consultants=chosen,
            lead=lead or not consultants,
            on_progress=progress,
        )
    if as_json:
        emit_json(_queue_json(result))
        return
    queued = ngettext(
        "queued {n} digest for {week}", "queued {n} digests for {week}", len(result.queued)
    ).format(n=len(result.queued), week=result.week)
    if result.already:
        queued += "; " + _("{n} already queued this week").format(n=len(result.already))
    say(queued + "; " + _("deliver them with 'fbh outbox send'"))


def _queue_json(result: QueueResult) -> dict[str, Any]:
    return {"week": result.week, "queued": list(result.queued), "already": list(result.already)}
