"""CLI: the daemon (``fbh serve``) and its status (``fbh status``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import typer

from engine.cli.common import (
    JsonOption,
    emit_json,
    say,
    state,
)
from engine.cli.i18n import _
from engine.domain import clock

if TYPE_CHECKING:  # the daemon's imports (APScheduler, aiosmtplib) load only for `fbh serve`
    from engine.daemon.runner import Daemon
    from engine.services.facade import Fbh
    from notifications.transports import Transport

log = logging.getLogger(__name__)


def serve(ctx: typer.Context) -> None:
    """Run the daemon until SIGTERM or SIGINT (migrates the database first)."""
    from engine.daemon.runner import daemon_name
    from engine.services.facade import Fbh
    from notifications.outbox import make_transport

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
    from engine.daemon.runner import Daemon

    daemon = Daemon(fbh, transport, name=name)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, daemon.stop)
    collect = asyncio.create_task(_collect_once_ready(daemon), name="gc")
    try:
        async with _http(daemon):
            await daemon.run()
    finally:
        collect.cancel()
        for number in signals:
            loop.remove_signal_handler(number)
        await transport.aclose()


async def _collect_once_ready(daemon: Daemon) -> None:
    """The garbage collector, off while fbh started (engine/cli/main.py), runs again once the
    daemon is ready. What start-up built lives as long as the process: frozen, the
    collector's passes no longer walk it."""
    await daemon.ready.wait()
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _http(daemon: Daemon) -> AbstractAsyncContextManager[object]:
    """The HTTP server when ``[http] listen`` is set. Only then is its stack imported (aiohttp,
    prometheus_client, the page and the feeds): without it, start-up is quicker and smaller."""
    if daemon.settings.http.address is None:
        return contextlib.nullcontext()
    from engine.daemon.http import http_server

    return http_server(daemon)


def _serve_logging(verbose: int) -> None:
    """The daemon logs at INFO (one ``ready`` line, transitions, sends); -vv adds APScheduler."""
    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


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
