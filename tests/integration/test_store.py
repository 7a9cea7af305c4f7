"""The store on every real backend: migrations, UTC, the outbox claim fence, constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text

from engine.domain.errors import StoreError
from engine.domain.model import OutboxDraft, OutboxState
from engine.store.database import current_revision, head_revision
from engine.store.store import Store

NOW = datetime(2027, 3, 8, 8, 0, tzinfo=UTC)


def drafts(n: int, due: datetime = NOW, prefix: str = "k") -> list[OutboxDraft]:
    return [
        OutboxDraft(
            dedupe_key=f"{prefix}:{i}",
            kind="reminder",
            recipient=f"r{i}@example.dk",
            due_at=due,
            payload={"i": i, "tekst": "æøå"},
            message_id=f"<{prefix}{i}@bl.dk>",
        )
        for i in range(n)
    ]


def test_migrations_reach_head_and_create_every_table(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "organisations",
        "people",
        "programmes",
        "milestones",
        "events",
        "outbox",
        "invites",
        "requests",
        "time_entries",
    } <= tables


def test_reopening_an_existing_database_is_a_no_op(store: Store, settings: object) -> None:
    again = Store.open(store.engine.url.render_as_string(hide_password=False))
    try:
        assert current_revision(again.engine) == head_revision()
    finally:
        again.dispose()


def test_datetimes_come_back_aware_in_utc(store: Store) -> None:
    local = datetime(2027, 3, 8, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    with store.transaction() as tx:
        tx.outbox.enqueue(drafts(1, due=local), NOW)
    with store.transaction() as tx:
        (row,) = tx.outbox.find()
    assert row.due_at == NOW and row.due_at.tzinfo is not None
    assert row.due_at.utcoffset() == timedelta(0)
    assert row.payload["tekst"] == "æøå"


def test_naive_datetimes_are_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises((StoreError, ValueError)), store.transaction() as tx:
        tx.outbox.enqueue(drafts(1, due=datetime(2027, 3, 8, 9, 0)), NOW)  # noqa: DTZ001
    with store.transaction() as tx:
        assert tx.outbox.find() == []


def test_enqueue_skips_dedupe_keys_already_queued(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.outbox.enqueue(drafts(3), NOW) == 3
    with store.transaction() as tx:
        assert tx.outbox.enqueue(drafts(5), NOW) == 2
        assert len(tx.outbox.find()) == 5


def test_claims_never_overlap_and_respect_due_times(store: Store) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue(drafts(10), NOW)
        tx.outbox.enqueue(drafts(4, due=NOW + timedelta(hours=1), prefix="later"), NOW)
    with store.transaction() as tx:
        first = tx.outbox.claim_due(NOW, "worker-a", 6)
    with store.transaction() as tx:
        second = tx.outbox.claim_due(NOW, "worker-b", 100)
    a, b = {r.id for r in first}, {r.id for r in second}
    assert len(a) == 6 and len(b) == 4 and not a & b
    assert {r.state for r in first + second} == {"sending"}
    assert {r.claimed_by for r in second} == {"worker-b"} and {r.attempts for r in second} == {1}
    with store.transaction() as tx:
        assert tx.outbox.claim_due(NOW, "worker-c", 100) == []


def test_finishing_a_lost_claim_is_refused(store: Store) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue(drafts(1), NOW)
    with store.transaction() as tx:
        (row,) = tx.outbox.claim_due(NOW, "slow", 1)
    later = NOW + timedelta(minutes=30)
    with store.transaction() as tx:
        assert [i for i, _ in tx.outbox.release_stuck(later, timedelta(minutes=10))] == [row.id]
    with store.transaction() as tx:
        (again,) = tx.outbox.claim_due(later, "fast", 1)
        assert again.id == row.id and again.attempts == 2
    with store.transaction() as tx:
        assert tx.outbox.finish_claim(row.id, "slow", state=OutboxState.SENT, now=later) is False
        assert tx.outbox.finish_claim(row.id, "fast", state=OutboxState.SENT, now=later) is True
    with store.transaction() as tx:
        (done,) = tx.outbox.find()
    assert done.state == "sent" and done.sent_at == later


def test_release_claims_of_a_stopping_worker(store: Store) -> None:
    with store.transaction() as tx:
        tx.outbox.enqueue(drafts(3), NOW)
        tx.outbox.claim_due(NOW, "stopping", 3)
    with store.transaction() as tx:
        assert tx.outbox.release_claims("stopping", NOW) == 3
        assert {r.state for r in tx.outbox.find()} == {"pending"}


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(StoreError), store.transaction() as tx:
        tx.session.execute(
            text(
                "INSERT INTO invites (programme_id, milestone_id, recipient, uid, sequence, "
                "method, updated_at) VALUES (999, 999, 'x@y.dk', 'u', 0, 'REQUEST', :now)"
            ),
            {"now": NOW.replace(tzinfo=None) if store.dialect == "sqlite" else NOW},
        )


def test_sqlite_runs_in_wal_mode(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("SQLite pragma")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot connect to database"):
        Store.open(
            "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
        )
