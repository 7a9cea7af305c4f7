"""Prometheus metrics of ``fbh serve`` (``GET /metrics``); every name starts with ``fbh_``.

The outbox and event-log figures are read from the database at each scrape, so they are the
same on every daemon of a cluster and survive restarts; scrape one daemon, or ``max`` over
them, rather than summing. Only ``fbh_leader`` and the process metrics are this daemon's own.

Sources: each function in ``SOURCES`` takes a transaction and ``now`` and returns metric
families. A part of fbh with its own figures appends its function here (the inbound-mail
issue's ``fbh_inbox_items{kind,state}`` belongs here), and ``/metrics`` includes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.daemon.jobs import WEEKLY_DIGEST_EVENT
from engine.domain.model import AUTH_FAILED_EVENT, AUTH_OK_EVENT, MAIL_ENTITY
from engine.store import metrics as metric_store
from engine.store.store import Store, Tx

MetricSource = Callable[[Tx, datetime], Iterable[Metric]]

# Seconds from due to sent: a daemon sends within a second or two when it is up; minutes and
# hours mean retries, downtime or a catch-up.
LATENESS_BOUNDS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0)


def outbox_metrics(tx: Tx, now: datetime) -> Iterator[Metric]:
    messages = GaugeMetricFamily(
        "fbh_outbox_messages",
        "Outbox messages by kind and state (pending, sending, sent, failed, missed, cancelled).",
        labels=["kind", "state"],
    )
    for kind, state, count in metric_store.outbox_counts(tx):
        messages.add_metric([kind, state], count)
    yield messages
    backlog = metric_store.backlog(tx, now)
    yield GaugeMetricFamily(
        "fbh_outbox_due_messages", "Pending messages whose due time has passed.", value=backlog.due
    )
    yield GaugeMetricFamily(
        "fbh_outbox_lag_seconds",
        "How far behind the outbox is: age of the oldest pending message that is due.",
        value=backlog.lag_seconds(now),
    )
    lateness = HistogramMetricFamily(
        "fbh_outbox_lateness_seconds",
        "Sent messages by how late they went out: seconds from due to sent.",
        labels=["kind"],
    )
    for row in metric_store.lateness(tx, LATENESS_BOUNDS):
        buckets = [(_bound(b), float(n)) for b, n in zip(LATENESS_BOUNDS, row.buckets, strict=True)]
        buckets.append(("+Inf", float(row.count)))
        lateness.add_metric([row.kind], buckets, sum_value=row.total_seconds)
    yield lateness


def digest_metrics(tx: Tx, now: datetime) -> Iterator[Metric]:
    last = metric_store.last_event_at(tx, WEEKLY_DIGEST_EVENT)
    yield GaugeMetricFamily(
        "fbh_last_digest_run_timestamp_seconds",
        "When a leader last ran the weekly digest job (Unix time; 0: never).",
        value=0.0 if last is None else last.timestamp(),
    )


def mail_metrics(tx: Tx, now: datetime) -> Iterator[Metric]:
    latest = tx.events.latest(MAIL_ENTITY, (AUTH_FAILED_EVENT, AUTH_OK_EVENT))
    yield GaugeMetricFamily(
        "fbh_mail_auth_failing",
        "1 while the mail server rejects fbh's login (sending paused, messages pending), else 0.",
        value=float(latest is not None and latest.event == AUTH_FAILED_EVENT),
    )


SOURCES: list[MetricSource] = [outbox_metrics, digest_metrics, mail_metrics]


class FbhCollector(Collector):
    """The database's figures (``SOURCES``, one transaction per scrape) and the leader gauge."""

    def __init__(
        self,
        store: Store,
        *,
        is_leader: Callable[[], bool],
        clock: Callable[[], datetime],
        started_at: datetime,
        sources: Iterable[MetricSource] | None = None,
    ) -> None:
        self.store = store
        self.is_leader = is_leader
        self.clock = clock
        self.started_at = started_at
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        sources = list(SOURCES if self.sources is None else self.sources)
        with self.store.transaction() as tx:
            found = [metric for source in sources for metric in source(tx, now)]
        yield GaugeMetricFamily(
            "fbh_leader", "1 while this daemon leads, else 0.", value=float(self.is_leader())
        )
        yield GaugeMetricFamily(
            "fbh_daemon_start_time_seconds",
            "When this daemon started (Unix time).",
            value=self.started_at.timestamp(),
        )
        yield from found


def make_registry(collector: FbhCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(namespace="fbh", registry=registry)
    return registry


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))
