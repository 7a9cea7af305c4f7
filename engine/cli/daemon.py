"""``fbh serve`` without typer: the daemon run from its State and the root's ``-v`` count.

The console script (engine/cli/main.py) runs ``fbh [--config PATH] [-v…] serve`` here
directly, before building the Typer app, whose import and parsing of the root options were
a tenth of the start-up (docs/benchmarks.md, "Start-up (§5)"). Every other form, ``fbh serve
--help`` included, goes through typer to :func:`engine.cli.serve.serve`, which runs this too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the daemon's imports (APScheduler, aiosmtplib) load only for `fbh serve`
    from engine.cli.root import State
    from engine.daemon.runner import Daemon
    from engine.services.facade import Fbh
    from notifications.transports import Transport

CONFIG, VERBOSE, COMMAND = "--config", ("-v", "--verbose"), "serve"
CONFIG_ENV = "FBH_CONFIG"
COMPLETE_ENV = "_FBH_COMPLETE"  # click's shell completion of `fbh`


def serve_options(args: Sequence[str], environ: Mapping[str, str]) -> tuple[str | None, int] | None:
    """``(config, verbose)`` when ``args`` are the root options ``--config`` and ``-v`` (as the
    Typer app defines them in engine/cli/common.py) followed by ``serve`` alone; ``None`` for
    anything else, which typer then parses (and explains, if it is wrong). Like click, the last
    ``--config`` wins, and without one ``FBH_CONFIG`` counts when it is not empty."""
    if not args or args[-1] != COMMAND or COMPLETE_ENV in environ:
        return None
    if any("\ud800" <= char <= "\udfff" for arg in args for char in arg):
        return None  # not UTF-8: typer's path refuses it
    config: str | None = None
    verbose = 0
    rest = list(args[:-1])
    while rest:
        arg = rest.pop(0)
        if arg == CONFIG and rest:
            config = rest.pop(0)
        elif arg.startswith(CONFIG + "="):
            config = arg[len(CONFIG) + 1 :]
        elif arg in VERBOSE:
            verbose += 1
        elif len(arg) > 2 and arg[0] == "-" and set(arg[1:]) == {"v"}:  # -vv
            verbose += len(arg) - 1
        else:
            return None
        if config is not None and (not config or config.startswith("-")):
            return None  # what click would make of it is typer's to say
    if config is None:
        config = environ.get(CONFIG_ENV) or None
    return config, verbose


def run_serve(state: State, verbose: int) -> None:
    """Run the daemon until SIGTERM or SIGINT (migrates the database first)."""
    from engine.daemon.runner import daemon_name
    from engine.services.facade import Fbh
    from notifications.outbox import make_transport

    _serve_logging(verbose)
    settings = state.settings
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
