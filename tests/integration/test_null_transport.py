"""``[mail] transport = "null"`` against real databases (SQLite file and PostgreSQL): every due
message is recorded sent, once, and nothing is written anywhere."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fbhtest import make_settings

from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import Store
from notifications.outbox import OutboxWorker, make_transport
from notifications.transports import NullTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_due_mail_is_recorded_sent_and_written_nowhere(
    tmp_path: Path, backend_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, backend_url, transport="null")
    store = Store.open(settings.database_url)
    try:
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
        fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation="Boligselskabet Østervang",
                municipality="Helsingør",
                consultant=Contact("Anne Konsulent", "anne@bl.dk"),
                tovholder=Contact("Søren Tovholder", "soren@oestervang.dk"),
                start=date(2027, 1, 4),
            ),
            NOW,
        )
        with store.transaction() as tx:
            due = {r.message_id for r in tx.outbox.find() if r.due_at <= NOW}
        assert due  # the invites and the summary are due at once

        with caplog.at_level(logging.INFO, logger="notifications.transports.null"):
            transport = make_transport(settings)
            report = await OutboxWorker(store, transport, settings, worker_id="test").deliver_due(
                NOW
            )

        assert isinstance(transport, NullTransport)
        assert report.sent == len(due)
        with store.transaction() as tx:
            rows = [r for r in tx.outbox.find() if r.message_id in due]
        assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}
        assert not (tmp_path / "mail").exists()
        assert [p for p in tmp_path.rglob("*") if p.is_file() and "mail" in p.parts] == []
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("delivered nowhere" in r.getMessage() for r in warnings)
        logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
        assert all(message_id in logged for message_id in due)
    finally:
        store.dispose()


async def test_an_empty_batch_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    transport = NullTransport()
    caplog.clear()  # the warning of its making
    with caplog.at_level(logging.INFO, logger="notifications.transports.null"):
        assert await transport.send_batch([]) == []
    assert caplog.records == []
