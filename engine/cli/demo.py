"""CLI: ``fbh demo`` (two sample programmes, their mail delivered to the Maildir)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import typer

from engine.cli.common import (
    say,
    state,
)
from engine.cli.formatting import (
    show_programme,
)
from engine.cli.i18n import ngettext
from engine.cli.outbox import send_due
from engine.domain import clock
from engine.domain.model import Contact
from engine.services.facade import NewProgramme

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


def demo(ctx: typer.Context) -> None:
    """Create two sample programmes (once) and deliver their mail to the configured Maildir."""
    settings = state(ctx).settings
    fbh = state(ctx).open(create=True)
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
        say("")
    report = asyncio.run(send_due(fbh, settings))
    text = ngettext("sent {n} e-mail to {path}", "sent {n} e-mails to {path}", report.sent)
    say(text.format(n=report.sent, path=settings.maildir_path))
