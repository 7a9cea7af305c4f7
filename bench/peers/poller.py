"""A minimal ``SELECT … FOR UPDATE SKIP LOCKED`` poller on PostgreSQL: the lower bound.

One table ``jobs (id, key, due_at, state, payload, claimed_at, done_at)`` with a partial
index on ``due_at`` of the pending rows. Every ``poll_ms`` the poller claims up to ``batch``
due rows in one statement (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
RETURNING``), does the work of each, marks the batch done, and claims again at once while
rows are due. No heartbeats, no catch-up policy, no retries, no outbox states: what is left
of fbh's delivery loop when everything but the claim is taken away.

* :func:`make_template`: the table with ``total`` rows far ahead.
* :func:`make_due`: moves ``count`` rows, spread evenly by id, to T.
* ``python -m bench.peers.poller --dsn DSN --maildir DIR --out FILE [--count N]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.peers.work import Work, add_work_arguments, vmhwm_kb, write_result

CLAIM = """
UPDATE jobs SET state = 'running', claimed_at = clock_timestamp()
WHERE id IN (
    SELECT id FROM jobs WHERE state = 'pending' AND due_at <= now()
    ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED
)
RETURNING id, key, payload, rendered
"""


def make_template(dsn: str, total: int, payload: dict[str, Any]) -> None:
    first = datetime.now(UTC) + timedelta(days=2)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            """
            CREATE TABLE jobs (
                id bigserial PRIMARY KEY,
                key text NOT NULL,
                due_at timestamptz NOT NULL,
                state text NOT NULL DEFAULT 'pending',
                payload jsonb NOT NULL,
                claimed_at timestamptz,
                done_at timestamptz
            )
            """
        )
        connection.execute("CREATE INDEX jobs_pending_due ON jobs (due_at) WHERE state = 'pending'")
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY jobs (key, due_at, payload) FROM STDIN") as copy,
        ):
            for i in range(total):
                copy.write_row((f"job-{i:06d}", first + timedelta(minutes=5 * i), Jsonb(payload)))
        connection.execute("ANALYZE jobs")


def make_due(
    dsn: str,
    count: int,
    at: datetime | Callable[[], datetime],
    render: Callable[[str], bytes] | None = None,
) -> list[str]:
    """Move ``count`` rows, spread evenly by id, to ``at``; with ``render``, first store each
    one's rendered bytes (of its key) in the row, as fbh's render-ahead does before T (``at``
    may be a function, called after rendering, so T is still the lead after set-up)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS rendered bytea")
        rows = connection.execute("SELECT id, key FROM jobs ORDER BY id").fetchall()
        step = len(rows) / count
        chosen = [rows[int(i * step)] for i in range(count)]
        if render is not None:
            with connection.cursor() as cursor:
                cursor.executemany(
                    "UPDATE jobs SET rendered = %s WHERE id = %s",
                    [(render(key), ident) for ident, key in chosen],
                )
        when = at() if callable(at) else at
        connection.execute(
            "UPDATE jobs SET due_at = %s WHERE id = ANY(%s)", (when, [i for i, _ in chosen])
        )
    return [key for _, key in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.poller")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=1000)
    add_work_arguments(parser)
    parser.add_argument("--poll-ms", type=float, default=50)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    work = Work(Path(args.maildir), args.work, fsync=args.fsync == "on")
    claimed: dict[str, float] = {}
    with psycopg.connect(args.dsn, autocommit=True) as connection:
        started, hwm = time.time(), vmhwm_kb()
        print(json.dumps({"started": started, "hwm_kb": hwm}), flush=True)
        began = time.monotonic()
        while work.done < args.count:
            if time.monotonic() - began > args.timeout:
                raise SystemExit(f"poller ran {work.done} of {args.count} jobs")
            rows = connection.execute(CLAIM, (args.batch,)).fetchall()
            at = time.time()
            if not rows:
                time.sleep(args.poll_ms / 1000)
                continue
            if args.work == "prerendered":  # the batch's stored bytes, written at once
                claimed |= {key: at for _, key, _, _ in rows}
                work.run_stored([(key, data) for _, key, _, data in rows])
            else:
                for _ident, key, payload, _ in rows:
                    claimed[key] = at
                    work.run(key, payload)
            connection.execute(
                "UPDATE jobs SET state = 'done', done_at = clock_timestamp() WHERE id = ANY(%s)",
                ([ident for ident, *_ in rows],),
            )
    write_result(
        Path(args.out),
        {
            "started": started,
            "hwm_kb": hwm,
            "claimed": claimed,
            "starts": work.starts,
            "ends": work.ends,
            "hwm_end_kb": vmhwm_kb(),
        },
    )


if __name__ == "__main__":
    main()
