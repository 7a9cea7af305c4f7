"""CLI: the daemon (``fbh serve``) and its status (``fbh status``)."""

from __future__ import annotations

import logging

import typer

from engine.cli.common import (
    JsonOption,
    emit_json,
    say,
    state,
)
from engine.cli.daemon import run_serve
from engine.cli.i18n import _
from engine.domain import clock

log = logging.getLogger(__name__)


def serve(ctx: typer.Context) -> None:
    """Run the daemon until SIGTERM or SIGINT (migrates the database first)."""
    run_serve(state(ctx), ctx.find_root().params.get("verbose", 0) or 0)


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The config file and database in use, daemons alive, the leader, pending and failed
    messages, and the next job due."""
    from engine.services.status import format_status, gather

    settings = state(ctx).settings
    config = str(settings.config_file) if settings.config_file else None
    if not as_json:  # first: they say where fbh looked, should the database be missing
        none = _("none (built-in defaults)")
        say(_("config: {path}").format(path=config or none))
        say(_("database: {url}").format(url=settings.database_display))
    report = gather(state(ctx).reader, clock.utcnow())
    if as_json:
        emit_json({"config": config, "database": settings.database_display, **report.to_json()})
    else:
        say(format_status(report, settings.tz))
