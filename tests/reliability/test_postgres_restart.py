"""PostgreSQL restarted under a running ``fbh serve``: a private cluster of this module
(``initdb``/``pg_ctl`` as the ``postgres`` user, a free port, 127.0.0.1 only) is restarted
in the middle of a burst of sends (``pg_ctl restart -m fast``) and again while the daemon is
idle (``-m immediate``: a crash of the server, with recovery).

The daemon is expected to survive (the same process, no supervisor needed; docs/operations.md,
"Database outages"): it logs the failures, keeps retrying, takes the lead again and delivers
everything afterwards. Message-IDs are counted at a real aiosmtpd server: nothing is lost and
nothing arrives twice. A batch the server accepted while the database could not record it is
recorded when the database is back (before the fix those rows stayed ``sending`` under the
live daemon for 10 minutes and were then sent again).

The shared server at 127.0.0.1:5432 is never restarted. Without the PostgreSQL server binaries
the cases are skipped with the reason, and fail under ``CI=true``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from faults import (
    PER_PROGRAMME,
    ClusterUnavailable,
    Daemons,
    PrivateCluster,
    SmtpSwitch,
    burst,
    delivery,
    in_ci,
    leader_pid,
    make_cli,
    new_programme,
    outbox,
    poll,
    settled,
    start_daemon,
    wait_until,
)
from fbhtest import make_settings

from engine.config.settings import SmtpSection
from engine.domain.definitions import load_registry
from engine.domain.errors import StoreError
from engine.services.facade import Fbh
from engine.store.store import Store
from notifications.outbox import OutboxWorker, make_transport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START = date(2027, 1, 4)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    try:
        private = PrivateCluster()
        private.start()
    except ClusterUnavailable as exc:
        reason = f"no private PostgreSQL cluster: {exc}"
        if in_ci():
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    yield private
    private.destroy()


@pytest.mark.slow
def test_the_daemon_survives_postgres_restarts_and_delivers_everything(
    tmp_path: Path, cluster: PrivateCluster, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    cli = make_cli(tmp_path, cluster.url(cluster.create_database()), mail=smtp.mail())
    served = start_daemon(daemons, cli, "pg")
    served.wait_ready()

    # 1. a restart in the middle of a burst
    for i in range(12):
        smtp.server.rcpt_delays[f"k{i}@bl.dk"] = smtp.server.rcpt_delays[f"t{i}@org.dk"] = 0.02
    due = burst(cli, 12)
    wait_until(lambda: len(smtp.server.messages) >= due // 3, 60, "a third delivered")
    in_flight = {r.message_id for r in outbox(cli) if r.state == "sending"}
    cluster.restart("fast")
    tally.faults(1)  # type: ignore[attr-defined]
    poll(lambda: settled(cli), 60, "the burst delivered after the restart")
    assert served.proc.poll() is None, served.text()
    poll(lambda: leader_pid(cli) == served.pid, 20, "the daemon leads again")

    # 2. a crash of the server (immediate shutdown, recovery) while the daemon is idle
    cluster.restart("immediate")
    tally.faults(1)  # type: ignore[attr-defined]
    began = time.monotonic()
    more = burst(cli, 3, first=100)
    poll(lambda: settled(cli), 60, "new work delivered after the crash")
    pickup = time.monotonic() - began
    assert served.proc.poll() is None, served.text()
    poll(lambda: leader_pid(cli) == served.pid, 20, "the daemon leads again")
    assert served.stop()[0] == 0

    text = served.text()
    assert "Traceback" not in text, text
    rows = [r for r in outbox(cli) if r.due_at <= datetime.now(UTC)]
    assert {r.state for r in rows} == {"sent"}
    result = delivery(cli, smtp)
    tally.sent(len(result.expected))  # type: ignore[attr-defined]
    tally.lost(len(result.lost))  # type: ignore[attr-defined]
    assert result.lost == set() and result.extra == set()
    assert len(result.expected) == due + more  # the same on every weekday (no digests)
    # nothing twice: what the server accepted while the database was away was recorded after
    assert result.duplicates == Counter()
    print(
        f"\nPostgreSQL restarts: {len(result.expected)} messages, 0 lost, "
        f"{sum(result.duplicates.values())} duplicate(s) ({len(in_flight)} in flight at the "
        f"restart); new work delivered {pickup:.1f} s after the crash"
    )


async def test_outcomes_the_database_could_not_record_are_recorded_after_it_returns(
    tmp_path: Path, cluster: PrivateCluster, smtp: SmtpSwitch, tally: object
) -> None:
    """The server accepts a whole batch, then PostgreSQL goes away before the worker records
    it. The worker keeps the outcomes: once the database is back they are recorded as sent,
    and not one message is sent again (before the fix they stayed ``sending`` under a live
    daemon for 10 minutes, and were then sent a second time)."""
    smtp_settings = SmtpSection(host="127.0.0.1", port=smtp.port, starttls=False, timeout=5)
    settings = make_settings(
        tmp_path, cluster.url(cluster.create_database()), transport="smtp", smtp=smtp_settings
    )
    store = Store.open(settings.database_url)
    fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="reliability")
    transport = make_transport(settings)
    try:
        fbh.create_programme(new_programme(0, START), NOW)
        worker = OutboxWorker(store, transport, settings, worker_id="reliability")
        smtp.server.after_data = lambda n: cluster.stop("fast") if n == PER_PROGRAMME else None
        with pytest.raises(StoreError):
            await worker.deliver_due(NOW)  # all 9 accepted, then the database is gone
        smtp.server.after_data = None
        tally.faults(1)  # type: ignore[attr-defined]
        with pytest.raises(StoreError):
            await worker.deliver_due(NOW)  # still away: the outcomes are kept
        cluster.start()

        report = await worker.deliver_due(NOW)
        assert (report.sent, report.claimed) == (PER_PROGRAMME, PER_PROGRAMME)
        assert (await worker.deliver_due(NOW)).claimed == 0
        with store.transaction() as tx:
            rows = [r for r in tx.outbox.find() if r.due_at <= NOW]
        assert {r.state for r in rows} == {"sent"}
        received = smtp.received()
        assert received == Counter({r.message_id: 1 for r in rows})
        tally.sent(len(rows))  # type: ignore[attr-defined]
        tally.lost(len({r.message_id for r in rows} - set(received)))  # type: ignore[attr-defined]
    finally:
        await transport.aclose()
        store.dispose()
        if smtp.server.after_data is not None or not _running(cluster):
            cluster.start()


def _running(cluster: PrivateCluster) -> bool:
    try:
        with psycopg.connect(cluster.admin, connect_timeout=2):
            return True
    except psycopg.Error:
        return False
