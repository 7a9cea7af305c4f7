"""``/metrics`` and ``/readyz`` figures from real databases (SQLite file and PostgreSQL),
read back with prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.config.settings import Settings
from engine.daemon.metrics import FbhCollector, make_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store import metrics as metric_store
from notifications.outbox import OutboxWorker
from notifications.transports import MaildirTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATE = timedelta(seconds=90)
PER_PROGRAMME = 9  # 4 meetings × 2 invites, and the tovholder's summary


def create(fbh: Fbh) -> None:
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


def samples(
    fbh: Fbh, now: datetime, *, leader: bool
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    collector = FbhCollector(fbh.store, is_leader=lambda: leader, clock=lambda: now, started_at=NOW)
    text = generate_latest(make_registry(collector)).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("fbh_")
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_outbox_counts_backlog_and_lateness(fbh: Fbh, settings: Settings) -> None:
    create(fbh)
    waiting = NOW + timedelta(seconds=30)
    with fbh.store.transaction() as tx:
        backlog = metric_store.backlog(tx, waiting)
    assert (backlog.due, backlog.lag_seconds(waiting)) == (PER_PROGRAMME, 30.0)
    before = samples(fbh, waiting, leader=False)
    assert before[("fbh_outbox_due_messages", ())] == PER_PROGRAMME
    assert before[("fbh_outbox_lag_seconds", ())] == 30.0
    assert before[("fbh_outbox_messages", (("kind", "invite"), ("state", "pending")))] == 8
    assert before[("fbh_leader", ())] == 0.0
    assert before[("fbh_last_digest_run_timestamp_seconds", ())] == 0.0

    worker = OutboxWorker(
        fbh.store, MaildirTransport(settings.maildir_path), settings, worker_id="test"
    )
    assert (await worker.deliver_due(NOW + LATE)).sent == PER_PROGRAMME
    digest_at = NOW + timedelta(hours=1)
    with fbh.store.transaction() as tx:
        tx.events.add(at=digest_at, actor="test", entity="daemon", event="weekly-digest")
    after = samples(fbh, NOW + LATE, leader=True)

    invite = (("kind", "invite"),)
    assert after[("fbh_outbox_messages", (*invite, ("state", "sent")))] == 8
    assert ("fbh_outbox_messages", (*invite, ("state", "pending"))) not in after
    assert after[("fbh_outbox_due_messages", ())] == 0
    assert after[("fbh_outbox_lag_seconds", ())] == 0.0
    assert after[("fbh_outbox_lateness_seconds_count", invite)] == 8
    assert after[("fbh_outbox_lateness_seconds_sum", invite)] == pytest.approx(8 * 90.0, abs=0.01)
    assert after[("fbh_outbox_lateness_seconds_bucket", (*invite, ("le", "60.0")))] == 0
    assert after[("fbh_outbox_lateness_seconds_bucket", (*invite, ("le", "300.0")))] == 8
    assert after[("fbh_outbox_lateness_seconds_bucket", (*invite, ("le", "+Inf")))] == 8
    assert after[("fbh_leader", ())] == 1.0
    assert after[("fbh_last_digest_run_timestamp_seconds", ())] == digest_at.timestamp()
    assert after[("fbh_daemon_start_time_seconds", ())] == NOW.timestamp()
