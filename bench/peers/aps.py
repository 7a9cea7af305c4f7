"""APScheduler 3.11 with ``SQLAlchemyJobStore`` on a SQLite file: one date job per message.

The set-up a user would pick instead of fbh's outbox: ``BackgroundScheduler`` with its
default thread pool (10 threads), every job in the SQL job store (pickled), jobs with
``misfire_grace_time=None`` and ``coalesce=True`` (APScheduler's default grace of 1 s would
drop every job that starts more than a second late, which is most of a burst of 1,000).

* :func:`make_template`: a job store with ``total`` jobs far ahead (written with one
  executemany of exactly the rows ``SQLAlchemyJobStore.add_job`` writes; adding 100k jobs
  through the API is one transaction each).
* :func:`make_due`: moves ``count`` of them, spread evenly, to run at T (trigger and
  ``next_run_time`` rewritten in the pickled state, as ``modify_job`` would).
* ``python -m bench.peers.aps --db PATH --maildir DIR --out FILE [--count N] [--startup-only]``
  starts the scheduler (its start-up: import, job store, ``start()``), prints one JSON line
  when started, waits until ``count`` jobs have run and writes when each started and ended.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp

from bench.peers import jobs
from bench.peers.work import Work, add_work_arguments, vmhwm_kb, wait_until, write_result

JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True}


def job_id(i: int) -> str:
    return f"job-{i:06d}"


def make_template(path: Path, total: int, payload: dict[str, Any]) -> None:
    path.unlink(missing_ok=True)
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
    store = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    store.start(scheduler, "default")
    first = datetime.now(UTC) + timedelta(days=2)
    rows = []
    for i in range(total):
        when = first + timedelta(minutes=5 * i)
        key = job_id(i)
        scheduler.add_job(
            jobs.deliver,
            DateTrigger(run_date=when, timezone=UTC),
            args=[key, payload],
            id=key,
            next_run_time=when,
            misfire_grace_time=None,  # the job defaults are applied only when it is stored
            coalesce=True,
            max_instances=1,
        )
    for job, _store, _replace in scheduler._pending_jobs:  # not started: queued here
        rows.append(
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
            }
        )
    with store.engine.begin() as connection:
        connection.execute(store.jobs_t.insert(), rows)
    store.shutdown()


def due_ids(total: int, count: int) -> list[str]:
    step = total / count
    return [job_id(int(i * step)) for i in range(count)]


def make_due(path: Path, ids: list[str], at: datetime) -> None:
    store = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    store.start(BackgroundScheduler(timezone=UTC), "default")
    table = store.jobs_t
    with store.engine.begin() as connection:
        for ident in ids:
            blob = connection.execute(
                table.select().with_only_columns(table.c.job_state).where(table.c.id == ident)
            ).scalar_one()
            state = pickle.loads(blob)
            state["trigger"] = DateTrigger(run_date=at, timezone=UTC)
            state["next_run_time"] = at
            connection.execute(
                table.update()
                .where(table.c.id == ident)
                .values(
                    next_run_time=datetime_to_utc_timestamp(at),
                    job_state=pickle.dumps(state, store.pickle_protocol),
                )
            )
    store.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.aps")
    parser.add_argument("--db", required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=1000)
    add_work_arguments(parser)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    jobs.WORK = work = Work(Path(args.maildir), args.work, fsync=args.fsync == "on")
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{args.db}")},
        job_defaults=JOB_DEFAULTS,
        timezone=UTC,
    )
    scheduler.start()
    started, hwm = time.time(), vmhwm_kb()
    print(json.dumps({"started": started, "hwm_kb": hwm}), flush=True)
    result: dict[str, Any] = {"started": started, "hwm_kb": hwm}
    if not args.startup_only:
        wait_until(lambda: work.done >= args.count, args.timeout, "APScheduler jobs")
        result.update(starts=work.starts, ends=work.ends, hwm_end_kb=vmhwm_kb())
    scheduler.shutdown(wait=False)
    write_result(Path(args.out), result)


if __name__ == "__main__":
    main()
