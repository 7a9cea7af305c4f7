"""Claiming ahead (``deliver_due(lease=…)``, the daemon's ``daemon.claim_ahead``): one claim
leases many rows, which go out a batch at a time, each exactly once, through a real SMTP
server; what a worker does not send goes back without an attempt spent, and rows taken back
from it are not sent by it after the batch it already had in hand."""

from __future__ import annotations

import asyncio
import email
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_outbox_flow import NOW, new_programme, smtp_settings

from engine.config.settings import Settings
from engine.domain.definitions import load_registry
from engine.services.facade import Fbh
from engine.store.store import Store
from notifications.outbox import LEASE_FOR, OutboxWorker, SendReport, make_transport

BATCH = 2


@pytest.fixture
def flow(tmp_path: Path, backend_url: str, smtp_server: object) -> Iterator[tuple[Fbh, Settings]]:
    settings = smtp_settings(tmp_path, backend_url, smtp_server.port)  # type: ignore[attr-defined]
    store = Store.open(settings.database_url)
    fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
    new_programme(fbh)
    yield fbh, settings
    store.dispose()


def due(fbh: Fbh) -> int:
    with fbh.store.transaction() as tx:
        return sum(1 for row in tx.outbox.find(states=["pending"]) if row.next_attempt_at <= NOW)


def states(fbh: Fbh) -> Counter[tuple[str, str | None, int]]:
    """(state, claimed by, attempts) → rows, of the rows due at NOW."""
    with fbh.store.transaction() as tx:
        return Counter(
            (r.state, r.claimed_by, r.attempts) for r in tx.outbox.find() if r.due_at <= NOW
        )


def received(server: object) -> Counter[str]:
    """Message-ID → copies the server accepted."""
    messages = server.messages  # type: ignore[attr-defined]
    return Counter(str(email.message_from_bytes(m.data)["Message-ID"]) for m in messages)


def test_a_lease_goes_out_a_batch_at_a_time_each_row_once(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    fbh, settings = flow
    total = due(fbh)
    assert total > 2 * BATCH

    async def run() -> list[SendReport]:
        transport = make_transport(settings)
        worker = OutboxWorker(fbh.store, transport, settings, worker_id="a")
        reports = []
        try:
            async with transport.session():
                while (report := await worker.deliver_due(NOW, limit=BATCH, lease=100)).claimed:
                    reports.append(report)
                    if len(reports) == 1:  # one claim took them all; one batch went out
                        assert states(fbh)[("sending", "a", 1)] == total - BATCH
        finally:
            await transport.aclose()
        return reports

    reports = asyncio.run(run())

    assert [r.sent for r in reports] == [BATCH] * (total // BATCH) + [total % BATCH] * (
        total % BATCH > 0
    )
    assert states(fbh) == Counter({("sent", "a", 1): total})
    assert len(received(smtp_server)) == total and set(received(smtp_server).values()) == {1}


def test_rows_taken_back_are_not_sent_after_the_batch_in_hand(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    """The leader takes back the claims of a worker it thinks dead (here: all of them, after
    a's first batch) and another worker sends them. Worker a sends only the batch it already
    had in hand (re-checked when its first batch was recorded): at most one batch twice."""
    fbh, settings = flow
    total = due(fbh)

    async def run() -> tuple[SendReport, SendReport, SendReport]:
        slow, quick = make_transport(settings), make_transport(settings)
        a = OutboxWorker(fbh.store, slow, settings, worker_id="a")
        b = OutboxWorker(fbh.store, quick, settings, worker_id="b")
        try:
            first = await a.deliver_due(NOW, limit=BATCH, lease=100)
            with fbh.store.transaction() as tx:
                assert tx.outbox.release_claims("a", NOW) == total - BATCH
            by_b = await b.drain(lambda: NOW)
            rest = SendReport()
            while (report := await a.deliver_due(NOW, limit=BATCH, lease=100)).claimed:
                rest.add(report)
            return first, by_b, rest
        finally:
            await slow.aclose()
            await quick.aclose()

    first, by_b, rest = asyncio.run(run())

    assert first.sent == BATCH and by_b.sent == total - BATCH
    assert rest.sent == 0 and rest.lost_claims == BATCH  # sent by both, recorded by b
    copies = received(smtp_server)
    assert len(copies) == total and sum(copies.values()) == total + BATCH
    # release_claims (the leader's) keeps the attempt a's claim counted
    assert states(fbh) == Counter({("sent", "a", 1): BATCH, ("sent", "b", 2): total - BATCH})


def test_what_a_pass_does_not_send_goes_back_without_an_attempt(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    fbh, settings = flow
    total = due(fbh)

    async def run() -> tuple[SendReport, int]:
        transport = make_transport(settings)
        worker = OutboxWorker(fbh.store, transport, settings, worker_id="a")
        try:
            report = await worker.deliver_due(NOW, limit=BATCH, lease=100)
            return report, worker.give_back()
        finally:
            await transport.aclose()

    report, given = asyncio.run(run())

    assert report.sent == BATCH and given == total - BATCH
    assert states(fbh) == Counter({("sent", "a", 1): BATCH, ("pending", "a", 0): given})
    assert due(fbh) == given and len(received(smtp_server)) == BATCH


def test_a_lease_older_than_a_minute_is_given_back_unsent(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    """Claims stay young: the batch in hand goes out, the rest of an old lease goes back and
    is claimed anew (the leader takes claims older than ten minutes for stuck)."""
    fbh, settings = flow
    total = due(fbh)
    later = NOW + LEASE_FOR + timedelta(seconds=1)

    async def run() -> list[SendReport]:
        transport = make_transport(settings)
        worker = OutboxWorker(fbh.store, transport, settings, worker_id="a")
        try:
            first = await worker.deliver_due(NOW, limit=BATCH, lease=100)
            second = await worker.deliver_due(later, limit=BATCH, lease=100)
            given_back = states(fbh)
            third = await worker.deliver_due(later, limit=BATCH, lease=100)
            assert given_back[("pending", "a", 0)] == total - 2 * BATCH
            return [first, second, third]
        finally:
            await transport.aclose()

    reports = asyncio.run(run())

    assert [r.sent for r in reports] == [BATCH, BATCH, BATCH]
    with fbh.store.transaction() as tx:
        claimed_at = {r.claimed_at for r in tx.outbox.find(states=["sending"])}
    assert claimed_at == {later}  # the third call claimed afresh
    assert set(received(smtp_server).values()) == {1}
