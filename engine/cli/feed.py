"""CLI: the consultants' calendar feeds (``fbh feed token``, ``fbh feed export``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import parse_contact, say, state
from engine.cli.i18n import _, ngettext
from engine.domain import clock
from engine.domain.errors import InvalidInputError
from engine.services.feeds import FeedService, feed_path

feed_app = typer.Typer(
    help="Consultants' calendar feeds (/feeds/{token}.ics).", no_args_is_help=True
)

EmailArgument = Annotated[str, typer.Argument(metavar="EMAIL", help="The consultant's address.")]


def _service(ctx: typer.Context, *, read_only: bool = False) -> FeedService:
    fbh = state(ctx).reader if read_only else state(ctx).fbh
    return FeedService(fbh.store, state(ctx).settings)


def _email(text: str) -> str:
    return parse_contact(text, "EMAIL").email


@feed_app.command("token")
def feed_token(
    ctx: typer.Context,
    email: EmailArgument,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke all of this consultant's feed tokens.")
    ] = False,
) -> None:
    """Issue a new feed token and print the feed's path (older tokens stay valid)."""
    address = _email(email)
    if revoke:
        revoked = _service(ctx).revoke(address, clock.utcnow())
        text = ngettext(
            "{count} feed token revoked for {email}",
            "{count} feed tokens revoked for {email}",
            revoked,
        )
        say(text.format(count=revoked, email=address))
        return
    token = _service(ctx).issue(address, clock.utcnow())
    say(feed_path(token))
    if state(ctx).settings.http.listen is None:
        note = _("note: [http] listen is not set; fbh serve serves no feeds")
        say(note, err=True)


@feed_app.command("export")
def feed_export(
    ctx: typer.Context,
    email: EmailArgument,
    out: Annotated[Path, typer.Option("--out", help="The .ics file to write.")],
) -> None:
    """Write the consultant's calendar feed to a file."""
    feed = _service(ctx, read_only=True).for_email(_email(email), clock.utcnow())
    _write_atomically(out, feed.body)
    text = ngettext(
        "{count} meeting written to {out}", "{count} meetings written to {out}", feed.meetings
    )
    say(text.format(count=feed.meetings, out=out))


def _write_atomically(out: Path, data: bytes) -> None:
    if not out.parent.is_dir():
        raise InvalidInputError(
            _("--out {out}: folder {folder} does not exist").format(out=out, folder=out.parent)
        )
    if out.is_dir():
        raise InvalidInputError(_("--out {out}: is a folder").format(out=out))
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, out)
    except OSError as exc:
        raise InvalidInputError(f"--out {out}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
