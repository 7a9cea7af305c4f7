"""procrastinate 3 on PostgreSQL: one job per message, deferred with ``schedule_at``.

A worker with procrastinate's defaults (``concurrency=1``, LISTEN/NOTIFY on, and
``fetch_job_polling_interval=5`` s: a job deferred for later is noticed at the next poll,
since the notification goes out when it is deferred, not when it falls due), or tuned for
latency as procrastinate's documentation of ``App.run_worker_async`` describes the two
knobs: ``--concurrency`` ("how many asynchronous jobs the worker can run in parallel") and
``--poll-interval`` (``fetch_job_polling_interval``, "maximum time between database job
polls"; with LISTEN/NOTIFY it is only the fallback, but a job scheduled for later is found by
polling alone).

* :func:`make_template`: a database with procrastinate's schema and ``total`` jobs deferred
  far ahead (``task.configure(schedule_at=…).batch_defer_async``, 1,000 per call).
* :func:`make_due`: moves ``count`` of them, spread evenly by id, to ``scheduled_at`` T.
* ``python -m bench.peers.procr --dsn DSN --maildir DIR --out FILE [--count N]
  [--startup-only]`` runs a worker, prints one JSON line when it starts, waits until
  ``count`` jobs have run and writes when each started and ended.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from procrastinate.types import JSONDict

from bench.peers import jobs
from bench.peers.work import Work, add_work_arguments, vmhwm_kb, write_result

QUEUE = "bench"
TASK = "bench.deliver"
PER_CALL = 1000


def make_app(dsn: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))
    app.task(name=TASK, queue=QUEUE)(jobs.deliver_async)
    return app


def job_key(i: int) -> str:
    return f"job-{i:06d}"


async def _fill(dsn: str, total: int, payload: dict[str, Any]) -> None:
    app = make_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task = app.tasks[TASK]
        first = datetime.now(UTC) + timedelta(days=2)
        for start in range(0, total, PER_CALL):
            when = first + timedelta(hours=start // PER_CALL)
            kwargs: list[JSONDict] = [
                {"key": job_key(i), "payload": payload}
                for i in range(start, min(start + PER_CALL, total))
            ]
            await task.configure(schedule_at=when).batch_defer_async(*kwargs)


def make_template(dsn: str, total: int, payload: dict[str, Any]) -> None:
    asyncio.run(_fill(dsn, total, payload))


def make_due(dsn: str, count: int, at: datetime) -> list[str]:
    """Move ``count`` jobs, spread evenly by id, to run at ``at``; returns their keys."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT id, args->>'key' FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
        step = len(rows) / count
        chosen = [rows[int(i * step)] for i in range(count)]
        connection.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = %s WHERE id = ANY(%s)",
            (at, [ident for ident, _ in chosen]),
        )
    return [key for _, key in chosen]


class _Started(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Starting worker"):
            self.event.set()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    jobs.WORK = work = Work(Path(args.maildir), args.work, fsync=args.fsync == "on")
    started_handler = _Started()
    worker_log = logging.getLogger("procrastinate.worker")
    worker_log.setLevel(logging.INFO)
    worker_log.addHandler(started_handler)
    app = make_app(args.dsn)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE],
                install_signal_handlers=False,
                concurrency=args.concurrency,
                fetch_job_polling_interval=args.poll_interval,
            )
        )
        await asyncio.wait_for(started_handler.event.wait(), 60)
        started, hwm = time.time(), vmhwm_kb()
        print(json.dumps({"started": started, "hwm_kb": hwm}), flush=True)
        result: dict[str, Any] = {"started": started, "hwm_kb": hwm}
        if not args.startup_only:
            began = time.monotonic()
            while work.done < args.count:
                if time.monotonic() - began > args.timeout or worker.done():
                    raise SystemExit(f"procrastinate ran {work.done} of {args.count} jobs")
                await asyncio.sleep(0.02)
            result.update(starts=work.starts, ends=work.ends, hwm_end_kb=vmhwm_kb())
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.procr")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=1000)
    add_work_arguments(parser)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--startup-only", action="store_true")
    parser.add_argument("--concurrency", type=int, default=1, help="worker concurrency")
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, help="fetch_job_polling_interval, seconds"
    )
    args = parser.parse_args()
    write_result(Path(args.out), asyncio.run(run(args)))


if __name__ == "__main__":
    main()
