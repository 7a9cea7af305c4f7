"""CLI: ``fbh programme link ID [--revoke]``, the tovholder's private page (/p/{token})."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.common import parse_id, say, state
from engine.cli.i18n import _, ngettext
from engine.domain import clock


def programme_link(
    ctx: typer.Context,
    programme_id: Annotated[str, typer.Argument(metavar="ID", help="Programme id.")],
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke every link to this programme's page.")
    ] = False,
) -> None:
    """Print a new link to the tovholder's private page (older links stay valid)."""
    # Imported here: engine.services.pages loads the store, which `programme list` and `show`
    # (the same command group) avoid for speed (docs/benchmarks.md, "CLI start-up").
    from engine.services.pages import issue_link, page_url, revoke_links

    ident = parse_id(programme_id)
    fbh, settings = state(ctx).fbh, state(ctx).settings
    if revoke:
        revoked = revoke_links(fbh, ident, clock.utcnow())
        text = ngettext(
            "{count} page link revoked for programme {id}",
            "{count} page links revoked for programme {id}",
            revoked,
        )
        say(text.format(count=revoked, id=ident))
        return
    token = issue_link(fbh, ident, clock.utcnow())
    say(page_url(settings, token))
    if settings.http.listen is None:
        note = _("note: [http] listen is not set; fbh serve serves no pages")
        say(note, err=True)
