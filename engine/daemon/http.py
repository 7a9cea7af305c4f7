"""The HTTP server of ``fbh serve`` (``[http] listen``; off when absent), in the daemon's
event loop (aiohttp).

* ``GET /healthz``: 200 while the daemon runs.
* ``GET /readyz``: 200 when the database answers, 503 when it does not; a JSON body says
  ``leader`` or ``follower`` and how far behind the outbox is.
* ``GET /metrics``: Prometheus text format (``engine.daemon.metrics``).
* ``GET /feeds/{token}.ics``: a consultant's calendar feed (``engine.services.feeds``), with
  ETag / If-None-Match.
* ``/p/{token}`` and ``/static/page.css``: the tovholder's private page (``engine.daemon.page``).

Every other path is 404, and so is any path with a percent-escape, a backslash or a segment
that starts with a dot (``..`` tricks): the routes need none. An unknown, revoked or malformed
feed token gets the same 404 as an unknown path. No access log is written: a feed's URL is
its secret. Database work runs in a worker thread so a slow database never blocks the
daemon's loop. The server stops with the daemon (SIGTERM); a port that cannot be bound stops
``fbh serve`` at once with one ``error:`` line and exit code 3 (the environment).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.daemon.metrics import FbhCollector, make_registry
from engine.daemon.page import PageEndpoints
from engine.daemon.runner import Daemon
from engine.domain.errors import FbhError, UnavailableError
from engine.services.feeds import FeedService
from engine.store import metrics as metric_store

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FEED_ROUTE = "/feeds/{token:[A-Za-z0-9_-]+}.ics"
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
FEED_CACHE = "private, no-cache"  # calendars may keep it, but ask again (a cheap 304)


class HttpListenError(UnavailableError):
    """The HTTP server cannot listen on its address (in use, not permitted): exit code 3."""


class Endpoints:
    """The handlers; everything they need from the daemon comes in here."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.store = daemon.fbh.store
        self.feeds = FeedService(self.store, daemon.settings)
        self.registry = make_registry(
            FbhCollector(
                self.store,
                is_leader=lambda: daemon.is_leader,
                clock=daemon.clock,
                started_at=daemon.started_at,
            )
        )

    def now(self) -> datetime:
        return self.daemon.clock()

    @property
    def role(self) -> str:
        return "leader" if self.daemon.is_leader else "follower"

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})

    async def readyz(self, request: web.Request) -> web.Response:
        now = self.now()
        try:
            backlog = await asyncio.to_thread(self._backlog, now)
        except FbhError as exc:
            log.warning("readyz: the database does not answer: %s", exc)
            body = {"ready": False, "role": self.role, "error": "database unreachable"}
            return web.json_response(body, status=503, headers={"Cache-Control": "no-store"})
        body = {
            "ready": True,
            "role": self.role,
            "daemon": self.daemon.name,
            "outbox": {"due": backlog.due, "lag_seconds": round(backlog.lag_seconds(now), 3)},
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    def _backlog(self, now: datetime) -> metric_store.Backlog:
        with self.store.transaction() as tx:
            return metric_store.backlog(tx, now)

    async def metrics(self, request: web.Request) -> web.Response:
        try:
            body = await asyncio.to_thread(generate_latest, self.registry)
        except FbhError as exc:
            log.warning("metrics: the database does not answer: %s", exc)
            return web.Response(status=503, text="database unreachable\n")
        response = web.Response(body=body, headers={"Cache-Control": "no-store"})
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def feed(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            feed = await asyncio.to_thread(self.feeds.for_token, token, self.now())
        except FbhError as exc:
            log.warning("feed: the database does not answer: %s", exc)
            return web.Response(status=503, text="database unreachable\n")
        if feed is None:
            raise web.HTTPNotFound()
        headers = {"ETag": feed.etag, "Cache-Control": FEED_CACHE}
        if _matches(request, feed.etag):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=feed.body,
            headers=headers | {"Content-Disposition": 'inline; filename="fbh.ics"'},
            content_type="text/calendar",
            charset="utf-8",
        )


def _matches(request: web.Request, etag: str) -> bool:
    """If-None-Match (RFC 9110 §13.1.2, weak comparison) names this entity tag, or ``*``."""
    wanted = request.if_none_match
    if not wanted:
        return False
    value = etag.strip('"')
    return any(tag.value in ("*", value) for tag in wanted)


@web.middleware
async def plain_paths(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404 for any path the routes cannot have: escapes, backslashes, dot segments."""
    path = request.raw_path.split("?", 1)[0]
    if "%" in path or "\\" in path or "/." in path or "//" in path:
        raise web.HTTPNotFound()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 404, 403, 429 and redirects carry them too
        exc.headers.update(COMMON_HEADERS)
        raise
    response.headers.update(COMMON_HEADERS)
    return response


def make_app(daemon: Daemon) -> web.Application:
    endpoints = Endpoints(daemon)
    app = web.Application(middlewares=[plain_paths], client_max_size=64 * 1024)
    app.router.add_get("/healthz", endpoints.healthz)
    app.router.add_get("/readyz", endpoints.readyz)
    app.router.add_get("/metrics", endpoints.metrics)
    app.router.add_get(FEED_ROUTE, endpoints.feed)
    PageEndpoints(daemon.fbh, daemon.clock).routes(app)
    return app


class HttpServer:
    """One aiohttp site on ``host:port`` in the running loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise HttpListenError(
                f"[http] listen: cannot listen on {self.host}:{self.port}: {reason}"
            ) from exc
        log.info("http: listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        await self.runner.cleanup()
        log.info("http: stopped")


@asynccontextmanager
async def http_server(daemon: Daemon) -> AsyncIterator[HttpServer | None]:
    """The daemon's HTTP server for the block, or None when ``[http] listen`` is not set."""
    address = daemon.settings.http.address
    if address is None:
        yield None
        return
    server = HttpServer(make_app(daemon), *address)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
