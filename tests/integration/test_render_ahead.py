"""Render ahead (issue 15 §1), on SQLite and PostgreSQL: pending rows rendered before they
fall due keep their bytes; at send the worker writes those bytes with a fresh ``Date``, and
the message is the one rendering it then gives (compared byte for byte and as parsed by the
stdlib ``email`` package, which fbh does not use to write messages). A payload that changes
drops the bytes, stale bytes (another sender, another fingerprint) are never sent, and a row
without bytes is rendered at send as before.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from engine.config.daemon import DaemonSection
from engine.config.settings import Settings
from engine.daemon.runner import Daemon
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.outbox_render import Rendered
from engine.store.store import Store
from engine.store.tables import OutboxMessage
from notifications.envelope import envelope_of, render_envelope
from notifications.outbox import OutboxWorker, SendReport
from notifications.prerender import render_ahead, render_queued
from notifications.rendered import fingerprint
from notifications.transports import MaildirTransport
from notifications.transports.memory import InMemoryTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Ærø", "soren@oestervang.dk")
DAY = 24 * 3600


@pytest.fixture
def programme(fbh: Fbh) -> int:
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Østervang",
            municipality="Helsingør",
            consultant=ANNE,
            tovholder=SOREN,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    assert view.id is not None
    return view.id


def pending(store: Store) -> list[OutboxMessage]:
    with store.transaction() as tx:
        return tx.outbox.find(states=["pending"])


def deliver(store: Store, settings: Settings, now: datetime) -> SendReport:
    async def run() -> SendReport:
        worker = OutboxWorker(
            store, MaildirTransport(settings.maildir_path), settings, worker_id="t"
        )
        return await worker.drain(lambda: now)

    return asyncio.run(run())


def parsed(data: bytes) -> list[tuple[str, object]]:
    """Headers and every part's content, as the email package reads them."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    found: list[tuple[str, object]] = list(message.items())
    for part in message.walk():
        if not part.is_multipart():
            found.append((part.get_content_type(), part.get_content()))
    return found


def test_rendered_ahead_is_what_rendering_at_send_gives(
    store: Store, settings: Settings, programme: int
) -> None:
    rows = pending(store)
    soon = [r for r in rows if r.next_attempt_at <= NOW + timedelta(days=60)]
    assert soon and any(r.kind == "invite" for r in soon)
    stored = render_ahead(store, settings, NOW, horizon_seconds=60 * DAY)
    assert stored == len(soon)
    later = NOW + timedelta(days=3, hours=5, seconds=17)  # sent days after rendering
    for row in pending(store):
        if row.next_attempt_at > NOW + timedelta(days=60):
            assert row.rendered is None and row.rendered_with is None  # beyond the horizon
            continue
        assert row.rendered is not None and row.rendered_with == fingerprint(settings)
        sent = envelope_of(row, settings, later)
        row.rendered = None
        fresh = render_envelope(row, settings, later)
        assert sent == fresh
        assert parsed(sent.data) == parsed(fresh.data)
        assert email.message_from_bytes(sent.data)["Date"] == "Fri, 04 Dec 2026 14:00:17 +0000"


def test_sending_from_stored_bytes_into_the_maildir(
    store: Store, settings: Settings, programme: int
) -> None:
    due_now = [r for r in pending(store) if r.next_attempt_at <= NOW]
    render_ahead(store, settings, NOW - timedelta(minutes=5), horizon_seconds=3600)
    expected = {}
    for row in due_now:
        row.rendered = None
        expected[row.message_id] = parsed(render_envelope(row, settings, NOW).data)
    report = deliver(store, settings, NOW)
    assert report.sent == len(due_now) > 0
    box = Path(settings.maildir_path) / "new"
    written = {}
    for path in box.iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        del message["Return-Path"], message["Delivered-To"]
        written[message["Message-ID"]] = parsed(message.as_bytes(policy=email.policy.SMTP))
    assert written == expected
    with store.transaction() as tx:
        sent = tx.outbox.find(states=["sent"])
    assert len(sent) == len(due_now) and all(r.rendered is None for r in sent)  # dropped


def test_a_changed_payload_drops_the_bytes(
    store: Store, settings: Settings, programme: int
) -> None:
    render_ahead(store, settings, NOW, horizon_seconds=400 * DAY)
    row = pending(store)[-1]
    payload = dict(row.payload)
    payload["context"] = dict(payload["context"]) | {"programme_title": "Ændret"}
    with store.transaction() as tx:
        assert tx.outbox.replace_pending_payload(row.dedupe_key, payload)
    [after] = [r for r in pending(store) if r.id == row.id]
    assert after.rendered is None and after.rendered_with is None
    assert render_ahead(store, settings, NOW, horizon_seconds=400 * DAY) == 1
    [again] = [r for r in pending(store) if r.id == row.id]
    assert again.rendered is not None
    again.rendered = None
    assert render_ahead(store, settings, NOW, horizon_seconds=400 * DAY) == 0  # all current


def test_bytes_rendered_from_a_payload_changed_meanwhile_are_not_stored(
    store: Store, settings: Settings, programme: int
) -> None:
    mark = fingerprint(settings)
    with store.transaction() as tx:
        [item] = tx.outbox.to_render(mark, before=NOW + timedelta(days=400), limit=1)
    row = next(r for r in pending(store) if r.id == item.id)
    with store.transaction() as tx:  # a reschedule rewrites the payload while rendering
        tx.outbox.replace_pending_payload(row.dedupe_key, dict(row.payload) | {"x": 1})
    with store.transaction() as tx:
        assert tx.outbox.store_rendered([Rendered(item, b"stale")], mark) == 0
    assert next(r for r in pending(store) if r.id == item.id).rendered is None


def test_stale_bytes_are_rendered_again_at_send(
    store: Store, settings: Settings, programme: int
) -> None:
    render_ahead(store, settings, NOW, horizon_seconds=3600)
    mail = settings.mail.model_copy(update={"sender": "Nyt navn <ny@bl.dk>"})
    other = settings.model_copy(update={"mail": mail})
    assert fingerprint(other) != fingerprint(settings)
    report = deliver(store, other, NOW)
    assert report.sent > 0
    for path in (Path(other.maildir_path) / "new").iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["From"].addresses[0].addr_spec == "ny@bl.dk"


def test_a_row_that_cannot_be_rendered_ahead_is_tried_at_send(
    store: Store, settings: Settings, programme: int
) -> None:
    row = pending(store)[0]
    with store.transaction() as tx:
        tx.outbox.replace_pending_payload(row.dedupe_key, dict(row.payload) | {"template": "nope"})
    render_ahead(store, settings, NOW, horizon_seconds=3600)
    broken = next(r for r in pending(store) if r.id == row.id)
    assert broken.rendered is None and broken.rendered_with == fingerprint(settings)
    report = deliver(store, settings, NOW)
    assert report.failed == 1  # at send, as before: reported, not dropped
    with store.transaction() as tx:
        assert "unknown mail kind" in (tx.outbox.message(row.id).last_error or "")


def test_render_queued_in_the_queueing_transaction(
    store: Store, settings: Settings, programme: int
) -> None:
    rows = [r for r in pending(store) if r.next_attempt_at <= NOW]
    with store.transaction() as tx:
        taken = render_queued(tx, settings, [r.dedupe_key for r in rows], NOW)
    assert taken == len(rows)
    assert all(r.rendered is not None for r in pending(store) if r.next_attempt_at <= NOW)


def test_cancelled_rows_drop_their_bytes(store: Store, settings: Settings, programme: int) -> None:
    render_ahead(store, settings, NOW, horizon_seconds=400 * DAY)
    with store.transaction() as tx:
        cancelled = tx.outbox.cancel_pending(programme)
        found = tx.outbox.find(states=["cancelled"])
    assert cancelled == len(found) > 0
    assert all(r.rendered is None and r.rendered_with is None for r in found)


# ----- the daemon's background pass --------------------------------------------------------


async def test_the_daemon_renders_ahead_within_its_horizon(
    fbh: Fbh, store: Store, programme: int
) -> None:
    horizon = 7 * DAY
    daemon_settings = fbh.settings.model_copy(
        update={"daemon": DaemonSection(render_ahead_seconds=horizon)}
    )
    fbh = Fbh(daemon_settings, store, fbh.registry, actor="test")
    transport = InMemoryTransport()
    # creation queued only what is due at once (the rolling horizon): queue the first
    # reminders, three weeks later, so that rows lie ahead
    assert fbh.top_up(NOW + 21 * timedelta(seconds=DAY)) > 0
    first = min(r.next_attempt_at for r in pending(store) if r.next_attempt_at > NOW)
    clock = first - timedelta(days=3)
    daemon = Daemon(fbh, transport, clock=lambda: clock, name="daemon:test")
    stored = await daemon.render_pass()
    rows = pending(store)
    ahead = [r for r in rows if clock < r.next_attempt_at <= clock + timedelta(seconds=horizon)]
    assert stored == len(ahead) > 0
    assert any(r.next_attempt_at <= clock for r in rows)  # due already: left to delivery
    for row in rows:
        assert (row.rendered is not None) == (row.id in {r.id for r in ahead})
    assert await daemon.render_pass() == 0  # nothing left to do

    later = max(r.next_attempt_at for r in ahead)
    expected = {}
    for row in rows:
        if row.next_attempt_at <= later:
            row.rendered = None
            expected[row.message_id] = render_envelope(row, daemon_settings, later).data
    sender = Daemon(fbh, transport, clock=lambda: later, name="daemon:test2")
    sender.catch_up = lambda now: 0  # type: ignore[method-assign]  # send late ones too
    await sender.worker.drain(lambda: later)
    assert {e.message_id: e.data for e in transport.sent} == expected
