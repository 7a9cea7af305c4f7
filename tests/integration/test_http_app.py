"""The daemon's HTTP endpoints in process (aiohttp's test server), for what the acceptance
test cannot easily arrange: a database that does not answer, and methods other than GET."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fbhtest import make_settings

from engine.backends import backend_for
from engine.daemon.http import make_app
from engine.daemon.runner import Daemon
from engine.domain.definitions import load_registry
from engine.services.facade import Fbh
from engine.store.store import Store
from notifications.transports import MaildirTransport


def daemon_for(fbh: Fbh) -> Daemon:
    return Daemon(fbh, MaildirTransport(fbh.settings.maildir_path), name="daemon:test")


async def client_for(daemon: Daemon) -> TestClient[object, object]:
    client: TestClient[object, object] = TestClient(TestServer(make_app(daemon)))
    await client.start_server()
    return client


@pytest.fixture
async def unreachable(
    tmp_path: Path, closed_port: int
) -> AsyncIterator[TestClient[object, object]]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/fbh?connect_timeout=2"
    settings = make_settings(tmp_path, url)
    backend = backend_for(url)
    store = Store(backend.create_engine(), backend)  # never connected: nothing listens there
    fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
    client = await client_for(daemon_for(fbh))
    yield client
    await client.close()
    store.dispose()


async def test_a_database_that_does_not_answer_is_not_ready(
    unreachable: TestClient[object, object],
) -> None:
    health = await unreachable.get("/healthz")
    assert health.status == 200

    ready = await unreachable.get("/readyz")
    assert ready.status == 503
    assert await ready.json() == {
        "ready": False,
        "role": "follower",
        "error": "database unreachable",
    }
    metrics = await unreachable.get("/metrics")
    assert metrics.status == 503
    feed = await unreachable.get("/feeds/" + "A" * 43 + ".ics")
    assert feed.status == 503


async def test_only_get_and_head(fbh: Fbh) -> None:
    client = await client_for(daemon_for(fbh))
    try:
        assert (await client.head("/healthz")).status == 200
        for method in ("POST", "PUT", "DELETE"):
            response = await client.request(method, "/healthz")
            assert response.status == 405, method
        response = await client.get("/readyz")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    finally:
        await client.close()
