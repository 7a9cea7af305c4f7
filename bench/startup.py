"""Daemon start-up with 100k pending milestones and 100k pending outbox rows.

Set-up per run (not timed): a copy of the seeded SQLite template of :mod:`bench.seed`
(100k pending milestones in 11k programmes, 100k pending reminders and task notices, this
week's digest already sent, as after any earlier week of running), a config pointing at it
and a Maildir. Timed: from spawning ``fbh serve`` (the real CLI) to the moment its ``ready``
log line is read from its stderr. Peak RSS: ``VmHWM`` of the process right after ``ready``,
and again ``--settle`` seconds later (after its first delivery pass and transition check,
which run once it is ready).

fbh's own modules are byte-compiled before the runs (not timed), as ``pip install`` does: an
editable checkout has no ``.pyc`` files until Python writes them, and none at all with
``PYTHONDONTWRITEBYTECODE=1`` (set on the bench machine), when every start compiles fbh's
modules from source. That case is measured too, from a copy of the packages without ``.pyc``
files (``fbh_source_*``). The peers import fbh's code from the same compiled checkout.

For scale, the same on an empty database (migrated, no rows: what import and set-up cost
without data), and on PostgreSQL (a copy of the seeded template database).

Peers, in the same run:

* **APScheduler** 3.11, ``BackgroundScheduler`` + ``SQLAlchemyJobStore`` on a SQLite file with
  100k date jobs (:mod:`bench.peers.aps`): process start → ``scheduler.start()`` returned.
* **procrastinate** on PostgreSQL with 100k deferred jobs (:mod:`bench.peers.procr`):
  process start → the worker logs ``Starting worker``.

Both peer processes import the same job code (fbh's rendering, as the jobs need it), so the
import of a mail stack is in every figure.

``python -m bench.startup [--runs 5]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import Any

from bench import harness, seed
from bench.harness import Metric, Options
from bench.peers.serve import (
    Process,
    aps_template,
    byte_compiled,
    fbh_ready,
    fresh_dir,
    peer_started,
    procr_template,
    sample_payload,
    source_copy,
    spawn_fbh,
)
from bench.peers.work import vmhwm_kb
from engine.store.store import Store

METRICS = {
    "fbh_ready": Metric("fbh serve on SQLite (100k/100k): start → ready", "s", 0.5),
    "fbh_rss": Metric("fbh serve on SQLite (100k/100k): peak RSS at ready", "MB", 70.0),
    "fbh_rss_settled": Metric("fbh serve on SQLite (100k/100k): peak RSS after settling", "MB"),
    "fbh_source_ready": Metric(
        "fbh serve on SQLite (100k/100k), fbh's modules compiled from source: start → ready", "s"
    ),
    "fbh_source_rss": Metric(
        "fbh serve on SQLite (100k/100k), fbh's modules compiled from source: peak RSS at ready",
        "MB",
    ),
    "fbh_empty_ready": Metric("fbh serve on an empty SQLite database: start → ready", "s"),
    "fbh_empty_rss": Metric("fbh serve on an empty SQLite database: peak RSS at ready", "MB"),
    "fbh_pg_ready": Metric("fbh serve on PostgreSQL (100k/100k): start → ready", "s"),
    "fbh_pg_rss": Metric("fbh serve on PostgreSQL (100k/100k): peak RSS at ready", "MB"),
    "aps_ready": Metric(
        "APScheduler SQLAlchemyJobStore (100k jobs): start → started", "s", peer_of="fbh_ready"
    ),
    "aps_rss": Metric(
        "APScheduler SQLAlchemyJobStore (100k jobs): peak RSS at start", "MB", peer_of="fbh_rss"
    ),
    "procrastinate_ready": Metric(
        "procrastinate worker (100k deferred jobs): start → started", "s", peer_of="fbh_pg_ready"
    ),
    "procrastinate_rss": Metric(
        "procrastinate worker (100k deferred jobs): peak RSS at start", "MB", peer_of="fbh_pg_rss"
    ),
}


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fbh(
    prefix: str, home: Any, url: str, settle: float, *, env: dict[str, str] | None = None
) -> dict[str, float]:
    process = spawn_fbh(home, url, extra_env=env)
    try:
        ready = fbh_ready(process, 120)
        rss = vmhwm_kb(process.proc.pid)
        found = {f"{prefix}_ready": ready - process.spawned, f"{prefix}_rss": rss / 1024}
        if settle:
            time.sleep(settle)
            found[f"{prefix}_rss_settled"] = vmhwm_kb(process.proc.pid) / 1024
    finally:
        code = process.stop()
    if code != 0:
        raise SystemExit(f"fbh serve exited {code}; see {process.log}")
    return found


def _peer(prefix: str, command: list[str], home: Any) -> dict[str, float]:
    options = [
        "--startup-only",
        "--maildir",
        str(home / "mail"),
        "--out",
        str(home / "result.json"),
    ]
    process = Process(
        [sys.executable, "-m", *command, *options],
        home / "peer.log",
        cwd=seed.REPO,
        stream="stdout",
    )
    try:
        started = peer_started(process, 120, prefix)
        code = process.wait(60)
    finally:
        process.stop()
    if code != 0:
        raise SystemExit(f"{prefix} exited {code}; see {process.log}")
    return {
        f"{prefix}_ready": float(started["started"]) - process.spawned,
        f"{prefix}_rss": float(started["hwm_kb"]) / 1024,
    }


def measure_once(options: Options) -> dict[str, float]:
    with byte_compiled():  # not timed: what an installed fbh has
        return _measure(options)


def _measure(options: Options) -> dict[str, float]:
    milestones, outbox = int(options["milestones"]), int(options["outbox"])
    settle = float(options["settle"])
    found: dict[str, float] = {}

    home = fresh_dir(seed.WORK / "startup-fbh")
    url = seed.fresh_sqlite(home / "fbh.sqlite3", milestones, outbox, log=_log)
    found |= _fbh("fbh", home, url, settle)

    home = fresh_dir(seed.WORK / "startup-fbh-source")
    url = seed.fresh_sqlite(home / "fbh.sqlite3", milestones, outbox, log=_log)
    source = {"PYTHONPATH": str(source_copy(home / "src")), "PYTHONDONTWRITEBYTECODE": "1"}
    found |= _fbh("fbh_source", home, url, 0, env=source)

    home = fresh_dir(seed.WORK / "startup-fbh-empty")
    empty = f"sqlite:///{home / 'fbh.sqlite3'}"
    Store.open(empty).dispose()  # migrated, not timed
    found |= _fbh("fbh_empty", home, empty, 0)

    home = fresh_dir(seed.WORK / "startup-fbh-pg")
    found |= _fbh("fbh_pg", home, seed.fresh_pg("bench_fbh", milestones, outbox, log=_log), 0)

    payload = sample_payload(milestones, outbox)
    home = fresh_dir(seed.WORK / "startup-aps")
    database = home / "jobs.sqlite3"
    shutil.copyfile(aps_template(outbox, payload, log=_log), database)
    found |= _peer("aps", ["bench.peers.aps", "--db", str(database)], home)

    home = fresh_dir(seed.WORK / "startup-procrastinate")
    template = procr_template(outbox, payload, log=_log)
    dsn = seed.libpq(seed.create_database("bench_procrastinate", template=template))
    found |= _peer("procrastinate", ["bench.peers.procr", "--dsn", dsn], home)
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--milestones", type=int, default=100_000, help="pending milestones")
    parser.add_argument("--outbox", type=int, default=100_000, help="pending outbox rows")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after ready")


def main() -> None:
    harness.main(
        "startup",
        METRICS,
        measure_once,
        description=__doc__.split("\n\n")[0] if __doc__ else "startup",
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    main()
