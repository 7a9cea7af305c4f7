"""Lateness when 1,000 messages fall due in the same instant among 100k pending.

Set-up per system (not timed): a copy of a seeded template with ``--outbox`` (100k) pending
messages or jobs due days to a year ahead; ``--count`` (1,000) of them, spread evenly through
the table, are moved to fall due at one instant T, ``--lead`` seconds (fbh; ``--peer-lead``
for the peers, which start faster) after the process is started. The process must be ready
before T, else the run fails (raise the lead).

* **fbh** (``fbh serve``, the real CLI, default ``[daemon]`` settings, Maildir transport) on
  SQLite and on PostgreSQL, with the seeded data of :mod:`bench.seed` (100k pending
  milestones in 11k programmes, 100k pending reminders and task notices). Lateness of a
  message = ``outbox.claimed_at`` (the daemon's clock when it claimed the row, just before
  writing it) − T; delivered = the mtime of its file in the Maildir − T. **Render ahead**:
  the 1,000 messages are due at T, inside the default ``[daemon] render_ahead_seconds``
  (3600), so the daemon's render-ahead pass renders them after its start and before T, as a
  daemon that had been running would have done long before; the benchmark waits for the
  pass's log line (``rendered N message(s) ahead``) and fails unless it came before T and
  covered all 1,000. At T fbh claims rows that hold their bytes, sets the ``Date`` and writes
  them (``--lead`` is 15 s so that the pass fits on a busy machine; it is not timed).
* **APScheduler** 3.11, ``BackgroundScheduler`` + ``SQLAlchemyJobStore`` (SQLite file), one
  date job per message (:mod:`bench.peers.aps`): lateness = job start − run_date.
* **procrastinate** on PostgreSQL, jobs deferred with ``schedule_at``, one worker with the
  defaults (:mod:`bench.peers.procr`): lateness = job start − ``scheduled_at``; and
  **procrastinate-tuned**, the same with ``concurrency`` 20 and a 50 ms
  ``fetch_job_polling_interval`` (the poller's interval and fbh's batch).
* **poller**: a minimal ``FOR UPDATE SKIP LOCKED`` poller on PostgreSQL, every ``--poll-ms``,
  batches of 20 like fbh (:mod:`bench.peers.poller`): lateness = claim − due. It renders
  each message at due time and writes it alone: its design, and the work fbh did at due
  time before render ahead. **poller-prerendered**: the same poller whose rows carry their
  bytes, rendered before T with the same code (untimed, like fbh's pass); at T it sets the
  ``Date`` and writes each claimed batch at once, which is exactly fbh's work at T: the like-
  with-like comparison for fbh on PostgreSQL (issue 15: ≤ 1.0×).

The peers render one fbh reminder per message (:mod:`bench.peers.work`) and write it to a
Maildir, so a message's lateness includes waiting for the messages before it, as it does in
fbh. ``first`` is the lateness of the first message (how precisely the system wakes up);
``done p99`` is due → written to the Maildir. ``--fsync on|off`` (default on) sets the
Maildir transport's ``fsync`` of each file and of ``new/`` for every system alike
(``[mail] maildir_fsync``; bench/maildir.py measures its cost alone). ``--work none``: the
peers do nothing per message, and fbh runs with the ``null`` transport (``[mail] transport =
"null"``, notifications/transports/null.py): it claims its (pre-rendered) messages, sets the
``Date`` and records each batch sent, but writes nothing, so its figure is its scheduling and
bookkeeping, not the disk's; its ``done`` is then the row's ``sent_at``. Its results go to
``bench/results/lateness_none.json`` (the run with work to ``lateness.json``).

``python -m bench.lateness [--runs 5] [--count 1000] [--systems fbh-sqlite,aps,…]`` (systems:
fbh-sqlite, fbh-pg, aps, procrastinate, procrastinate-tuned, poller, poller-prerendered; all
by default). Each run
also records the machine's load when it began and the CPU time of ``fbh serve``, which tell
a run that waited for the CPU from one that did more work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import harness, seed
from bench.harness import Metric, Options, percentile
from bench.peers import aps, poller, procr
from bench.peers.serve import (
    Process,
    aps_template,
    fbh_discarded,
    fbh_ready,
    fbh_rendered,
    fresh_dir,
    peer_started,
    poller_template,
    procr_template,
    sample_payload,
    spawn_fbh,
)
from bench.peers.work import Work
from engine.store.store import Store
from engine.store.tables import OutboxMessage

SYSTEMS = (
    "fbh-sqlite",
    "fbh-pg",
    "aps",
    "procrastinate",
    "procrastinate-tuned",
    "poller",
    "poller-prerendered",
)
PREFIX = {
    "fbh-sqlite": "fbh_sqlite",
    "fbh-pg": "fbh_pg",
    "aps": "aps",
    "procrastinate": "procrastinate",
    "procrastinate-tuned": "procrastinate_tuned",
    "poller": "poller",
    "poller-prerendered": "poller_prerendered",
}
# procrastinate tuned for latency: the poller's interval and fbh's batch as concurrency
TUNED_CONCURRENCY = 20
TUNED_POLL_S = 0.05
NAMES = {
    "fbh_sqlite": "fbh on SQLite",
    "fbh_pg": "fbh on PostgreSQL",
    "aps": "APScheduler SQLAlchemyJobStore",
    "procrastinate": "procrastinate (PostgreSQL, defaults)",
    "procrastinate_tuned": (
        f"procrastinate (PostgreSQL, concurrency {TUNED_CONCURRENCY}, "
        f"{TUNED_POLL_S * 1000:.0f} ms poll)"
    ),
    "poller": "SKIP LOCKED poller (PostgreSQL)",
    "poller_prerendered": "SKIP LOCKED poller (PostgreSQL), bytes rendered ahead",
}
PEER_OF = {
    "aps": "fbh_sqlite",
    "procrastinate": "fbh_pg",
    "procrastinate_tuned": "fbh_pg",
    "poller": "fbh_pg",
    "poller_prerendered": "fbh_pg",
}
# issue 15: due → in the Maildir p99 ≤ 250 ms (--work render); due → claimed p99 ≤ 50 ms with
# --work none (the peers do nothing per message; fbh still writes its messages)
TARGET_DONE_P99_MS = 250.0
TARGET_NONE_P99_MS = 50.0


def _metrics(work: str = "render") -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    claim_target = TARGET_NONE_P99_MS if work == "none" else None
    done_target = TARGET_DONE_P99_MS if work == "render" else None
    for prefix, name in NAMES.items():
        ours = PEER_OF.get(prefix)
        for key, label, target in (
            ("p50", "lateness p50 (due → claimed/started)", None),
            ("p99", "lateness p99 (due → claimed/started)", claim_target),
            ("max", "lateness max (due → claimed/started)", None),
            ("first", "first message claimed/started after due", None),
            ("done_p99", "lateness p99 (due → in the Maildir)", done_target),
        ):
            metrics[f"{prefix}_{key}"] = Metric(
                f"{name}: {label}",
                "ms",
                target if ours is None else None,
                peer_of=f"{ours}_{key}" if ours else None,
            )
    return metrics


def _all_metrics(work: str = "render") -> dict[str, Metric]:
    metrics = _metrics(work)
    for prefix in ("fbh_sqlite", "fbh_pg"):
        metrics[f"{prefix}_cpu"] = Metric(
            f"{NAMES[prefix]}: CPU time of fbh serve, start → the burst in the Maildir", "s"
        )
    metrics["load_1min"] = Metric("machine load (1-minute average) when the run began", "")
    return metrics


METRICS = _all_metrics()


def figures(prefix: str, claimed: list[float], done: list[float]) -> dict[str, float]:
    """Milliseconds, from seconds after T."""
    ms = [value * 1000 for value in claimed]
    return {
        f"{prefix}_p50": percentile(ms, 0.50),
        f"{prefix}_p99": percentile(ms, 0.99),
        f"{prefix}_max": max(ms),
        f"{prefix}_first": min(ms),
        f"{prefix}_done_p99": percentile([value * 1000 for value in done], 0.99),
    }


def _due(options: Options, lead: str = "lead") -> datetime:
    return datetime.now(UTC) + timedelta(seconds=float(options[lead]))


def _check_ready(what: str, ready: float, due: datetime) -> None:
    if ready > due.timestamp() - 0.2:
        late = ready - due.timestamp()
        raise SystemExit(
            f"{what} was ready {late:+.2f} s after the messages fell due: raise the lead"
        )


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ----- fbh -----------------------------------------------------------------------------------


def run_fbh(options: Options, backend: str) -> dict[str, float]:
    milestones, outbox, count = options["milestones"], options["outbox"], options["count"]
    home = fresh_dir(seed.WORK / f"lateness-fbh-{backend}")
    if backend == "sqlite":
        url = seed.fresh_sqlite(home / "fbh.sqlite3", milestones, outbox, log=_log)
    else:
        url = seed.fresh_pg("bench_fbh", milestones, outbox, log=_log)
    due = _due(options)
    ids = seed.make_due(url, count, due)
    maildir = home / "mail" / "new"
    null = options["work"] == "none"  # the peers do nothing per message: fbh writes nothing
    transport = "null" if null else "maildir"
    process = spawn_fbh(home, url, fsync=options["fsync"] == "on", transport=transport)
    try:
        _check_ready("fbh serve", fbh_ready(process, float(options["lead"])), due)
        # The daemon's render-ahead pass (engine/daemon/prerender.py) renders the burst
        # before T, as a daemon running for longer would have: wait for it and check.
        rendered_at, rendered = fbh_rendered(process, float(options["lead"]))
        _check_ready("fbh serve's render-ahead", rendered_at, due)
        if rendered < count:
            raise SystemExit(f"fbh rendered {rendered} of the {count} messages ahead")
        if null:
            _wait_discarded(process, count, float(options["timeout"]))
        else:
            _wait_files(maildir, count, float(options["timeout"]), "fbh serve")
        time.sleep(0.3)  # a duplicate in flight would show
        cpu = _cpu_seconds(process.proc.pid)
    finally:
        code = process.stop()
    if code != 0:
        raise SystemExit(f"fbh serve exited {code}; see {process.log}")
    store = Store.open(url, run_migrations=False)
    try:
        with store.engine.connect() as connection:
            table = OutboxMessage.__table__  # type: ignore[attr-defined]
            rows = connection.execute(
                select(table.c.claimed_at, table.c.sent_at, table.c.state, table.c.attempts).where(
                    table.c.id.in_(ids)
                )
            ).all()
    finally:
        store.dispose()
    bad = [row for row in rows if row.state != "sent" or row.attempts != 1]
    written = len(os.listdir(maildir)) if maildir.is_dir() else 0
    if len(rows) != count or bad or written != (0 if null else count):
        raise SystemExit(f"fbh: {len(rows)} rows, {len(bad)} not sent once: {bad[:3]}")
    claimed = [(row.claimed_at - due).total_seconds() for row in rows]
    sent = [(row.sent_at - due).total_seconds() for row in rows]
    done = sent if null else _mtimes(maildir, due)
    prefix = "fbh_sqlite" if backend == "sqlite" else "fbh_pg"
    return figures(prefix, claimed, done) | {f"{prefix}_cpu": cpu}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc/PID/stat``): whether a
    slower run did more work or waited for the CPU."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_files(maildir: Path, count: int, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not (maildir.is_dir() and len(os.listdir(maildir)) >= count):
        if time.monotonic() > deadline:
            found = len(os.listdir(maildir)) if maildir.is_dir() else 0
            raise SystemExit(f"{what}: {found} of {count} messages within {seconds} s")
        time.sleep(0.05)


def _wait_discarded(process: Process, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while fbh_discarded(process) < count:
        if time.monotonic() > deadline:
            found = fbh_discarded(process)
            raise SystemExit(f"fbh serve: {found} of {count} messages within {seconds} s")
        time.sleep(0.05)


def _mtimes(maildir: Path, due: datetime) -> list[float]:
    return [
        entry.stat().st_mtime_ns / 1e9 - due.timestamp()
        for entry in os.scandir(maildir)
        if entry.is_file()
    ]


# ----- peers ---------------------------------------------------------------------------------


def _run_peer(
    options: Options,
    prefix: str,
    command: list[str],
    home: Path,
    due: datetime,
    keys: list[str],
    work: str,
) -> dict[str, float]:
    out = home / "result.json"
    common = ["--maildir", str(home / "mail"), "--out", str(out)]
    common += ["--count", str(options["count"]), "--work", work, "--fsync", str(options["fsync"])]
    process = Process(
        [sys.executable, "-m", *command, *common], home / "peer.log", cwd=seed.REPO, stream="stdout"
    )
    try:
        started = peer_started(process, float(options["peer_lead"]), NAMES[prefix])
        _check_ready(NAMES[prefix], float(started["started"]), due)
        code = process.wait(float(options["timeout"]) + float(options["peer_lead"]))
    finally:
        process.stop()
    if code != 0:
        raise SystemExit(f"{NAMES[prefix]} exited {code}; see {process.log}")
    result: dict[str, Any] = json.loads(out.read_text("utf-8"))
    moment = due.timestamp()
    ran = result.get("claimed") or result["starts"]  # the poller records its claims
    if set(result["starts"]) != set(keys):
        raise SystemExit(f"{NAMES[prefix]} ran {len(result['starts'])} jobs, not the {len(keys)}")
    claimed = [ran[key] - moment for key in keys]
    done = [result["ends"][key] - moment for key in keys]
    return figures(prefix, claimed, done)


def run_aps(options: Options, payload: dict[str, Any]) -> dict[str, float]:
    home = fresh_dir(seed.WORK / "lateness-aps")
    template = aps_template(int(options["outbox"]), payload, log=_log)
    database = home / "jobs.sqlite3"
    database.write_bytes(template.read_bytes())
    due = _due(options, "peer_lead")
    keys = aps.due_ids(int(options["outbox"]), int(options["count"]))
    aps.make_due(database, keys, due)
    command = ["bench.peers.aps", "--db", str(database)]
    return _run_peer(options, "aps", command, home, due, keys, str(options["work"]))


def run_procrastinate(
    options: Options, payload: dict[str, Any], *, tuned: bool = False
) -> dict[str, float]:
    prefix = "procrastinate_tuned" if tuned else "procrastinate"
    home = fresh_dir(seed.WORK / f"lateness-{prefix}")
    template = procr_template(int(options["outbox"]), payload, log=_log)
    dsn = seed.libpq(seed.create_database("bench_procrastinate", template=template))
    due = _due(options, "peer_lead")
    keys = procr.make_due(dsn, int(options["count"]), due)
    command = ["bench.peers.procr", "--dsn", dsn]
    if tuned:
        command += ["--concurrency", str(TUNED_CONCURRENCY), "--poll-interval", str(TUNED_POLL_S)]
    return _run_peer(options, prefix, command, home, due, keys, str(options["work"]))


def run_poller(
    options: Options, payload: dict[str, Any], *, prerendered: bool = False
) -> dict[str, float]:
    """The poller; ``prerendered``: its rows carry their bytes, rendered before T (untimed)
    with the same code, and at T it only sets the Date and writes them (fbh's work at T).
    With ``--work none`` both variants do nothing per message."""
    prefix = "poller_prerendered" if prerendered else "poller"
    home = fresh_dir(seed.WORK / f"lateness-{prefix}")
    template = poller_template(int(options["outbox"]), payload, log=_log)
    dsn = seed.libpq(seed.create_database(f"bench_{prefix}", template=template))
    work = str(options["work"])
    render = None
    if prerendered and work == "render":
        renderer = Work(home / "render-ahead" / "mail")
        work = "prerendered"

        def render(key: str) -> bytes:
            return bytes(renderer._envelope(key, payload).data)

    moment: list[datetime] = []

    def due_at() -> datetime:  # T: the lead after the set-up, rendering included
        moment.append(_due(options, "peer_lead"))
        return moment[0]

    keys = poller.make_due(dsn, int(options["count"]), due_at, render)
    due = moment[0]
    command = ["bench.peers.poller", "--dsn", dsn, "--poll-ms", str(options["poll_ms"])]
    return _run_peer(options, prefix, command, home, due, keys, work)


RUNNERS: dict[str, Callable[[Options, dict[str, Any]], dict[str, float]]] = {
    "fbh-sqlite": lambda options, _payload: run_fbh(options, "sqlite"),
    "fbh-pg": lambda options, _payload: run_fbh(options, "postgresql"),
    "aps": run_aps,
    "procrastinate": run_procrastinate,
    "procrastinate-tuned": lambda options, payload: run_procrastinate(options, payload, tuned=True),
    "poller": run_poller,
    "poller-prerendered": lambda options, payload: run_poller(options, payload, prerendered=True),
}


def measure_once(options: Options) -> dict[str, float]:
    payload = sample_payload(int(options["milestones"]), int(options["outbox"]))
    found: dict[str, float] = {"load_1min": os.getloadavg()[0]}
    for system in str(options["systems"]).split(","):
        began = time.perf_counter()
        found |= RUNNERS[system](options, payload)
        _log(f"{system}: {time.perf_counter() - began:.1f} s")
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=1000, help="messages due at T")
    parser.add_argument("--outbox", type=int, default=100_000, help="pending messages in all")
    parser.add_argument("--milestones", type=int, default=100_000, help="fbh: pending")
    parser.add_argument(
        "--lead",
        type=float,
        default=15.0,
        help="fbh: seconds from start to T (render-ahead included)",
    )
    parser.add_argument("--peer-lead", type=float, default=4.0, help="peers: the same")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds after T")
    parser.add_argument("--work", default="render", choices=["render", "none"])
    parser.add_argument(
        "--fsync", default="on", choices=["on", "off"], help="Maildir fsync, every system"
    )
    parser.add_argument("--poll-ms", type=float, default=50.0, help="the poller's interval")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated")


def chosen_metrics(argv: list[str]) -> dict[str, Metric]:
    """The metrics of the systems ``--systems`` names (all by default)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--work", default="render")
    known, _ = parser.parse_known_args(argv)
    prefixes = {PREFIX[system] for system in known.systems.split(",")}
    metrics = _all_metrics(known.work)
    chosen = {k: m for k, m in metrics.items() if _system_of(k) in prefixes}
    return chosen | {"load_1min": metrics["load_1min"]}


def _system_of(key: str) -> str | None:
    """The prefix of the system a metric belongs to: the longest that fits, so that
    ``poller_prerendered_p50`` is not the poller's."""
    fits = [prefix for prefix in PREFIX.values() if key.startswith(f"{prefix}_")]
    return max(fits, key=len, default=None)


def results_name(argv: list[str]) -> str:
    """``lateness`` for the run with work, ``lateness_none`` for ``--work none``: both runs'
    figures are kept (bench/results/NAME.json) and reported side by side."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--work", default="render")
    known, _ = parser.parse_known_args(argv)
    return "lateness_none" if known.work == "none" else "lateness"


def main() -> None:
    harness.main(
        results_name(sys.argv[1:]),
        chosen_metrics(sys.argv[1:]),
        measure_once,
        description=__doc__.split("\n\n")[0] if __doc__ else "lateness",
        add_arguments=add_arguments,
        module="bench.lateness",
    )


if __name__ == "__main__":
    main()
