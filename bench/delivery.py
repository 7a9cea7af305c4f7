"""Delivery to a local SMTP server: lateness from due to delivered, and throughput.

Set-up (not timed): a fresh SQLite file with real programmes made by
``Fbh.create_programme`` (socialt beredskab, every other one with TILPASSET, one consultant
and one tovholder each) until the outbox holds at least ``--messages`` rows; the first
``--messages`` of them (invites, reminders, task notices and summaries, in queue order) are
kept and parked half an hour ahead, the rest deleted. An aiosmtpd sink runs in its own process on
127.0.0.1 (``bench.smtp_sink``) and records the arrival time of every Message-ID. The real
daemon, ``fbh serve``, runs as a subprocess with ``[mail] transport = "smtp"`` to the sink and
its default ``[daemon]`` settings. The parked rows are due within the daemon's render-ahead
horizon (``daemon.render_ahead_seconds``, an hour), so it renders them ahead at start, as it
does for any mail due within the hour; the timed part begins once every row holds its bytes
(``--render-at-send`` parks them a day ahead instead: rendered at send, as before render ahead).

Measured: once the daemon is ready, one transaction makes every kept row due at the same
instant T, three seconds ahead (the daemon hears the commit through the store's change
counter, polled every ``daemon.watch_seconds``, and arms its timer at T). Lateness of a
message = its arrival at the sink − T; throughput = messages / (last arrival − T). A run
fails unless every Message-ID of the kept rows arrived exactly once and the outbox records
every row ``sent``.

In the same run, the plain aiosmtplib loop (:mod:`bench.peers.smtp_loop`) sends the same
messages (their bytes rendered beforehand from the same rows) over fbh's number of
connections to a fresh sink; ``share_of_loop`` is fbh's throughput as a share of the loop's
(issue 15's target: at least 80 %).

``python -m bench.delivery [--runs 5] [--messages 2000] [--connections N] [--batch-size N]
[--claim-ahead N]`` (the last three override fbh's defaults; ``--profile FILE`` /
``--pyspy FILE`` profile the daemon).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import col

from bench import harness
from bench.harness import Metric, Options
from bench.peers import smtp_loop
from bench.smtp_sink import SinkProcess
from engine.config.settings import load_settings
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import OutboxMessage
from notifications.envelope import render_envelope

REPO = harness.BENCH.parent
FBH = Path(sys.executable).with_name("fbh")
DEFAULT_MESSAGES = 2000
DUE_AHEAD = timedelta(seconds=3)  # T: long enough for the daemon to hear the commit
DONE_WITHIN = 300.0  # seconds; a run that has not delivered everything by then fails
SETTLE = 1.0  # seconds to wait after the last message, to catch a duplicate in flight
PARKED = timedelta(minutes=30)  # within the daemon's render-ahead horizon (an hour by default)
PARKED_OUTSIDE = timedelta(days=1)  # --render-at-send: beyond the horizon

METRICS = {
    "throughput": Metric(
        "Delivery throughput to local SMTP (fbh serve)", "msg/s", 300, higher_is_better=True
    ),
    "lateness_p50": Metric("Delivery lateness p50 (due → arrived)", "s"),
    "lateness_p99": Metric("Delivery lateness p99 (due → arrived)", "s"),
    "lateness_max": Metric("Delivery lateness max (due → arrived)", "s"),
    "first_arrival": Metric("First message arrived after due", "s"),
    "daemon_cpu_ms_per_msg": Metric("Daemon CPU per message", "ms"),
    "loop_throughput": Metric(
        "Plain aiosmtplib loop, same messages, connections and sink (peer)",
        "msg/s",
        higher_is_better=True,
        peer_of="throughput",
    ),
    "loop_cpu_ms_per_msg": Metric("Plain aiosmtplib loop: CPU per message (peer)", "ms"),
    "share_of_loop": Metric(
        "fbh's throughput as a share of the plain loop's, same run", "%", 80, higher_is_better=True
    ),
}


def write_config(home: Path, port: int, extra_smtp: str = "", extra_daemon: str = "") -> Path:
    config = home / "config.toml"
    config.write_text(
        f"""
[engine]
workflows = "{REPO / "workflows"}"

[database]
url = "sqlite:///{home / "fbh.sqlite3"}"

[mail]
transport = "smtp"
sender = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
lead = "Programleder <programleder@bl.dk>"

[mail.smtp]
host = "127.0.0.1"
port = {port}
starttls = false
{extra_smtp}

[daemon]
{extra_daemon}

[daemon.catch_up]
digest = "miss"   # no weekly digest catch-up at start: only the benchmark's messages go out
""",
        encoding="utf-8",
    )
    return config


def seed(fbh: Fbh, messages: int, now: datetime, parked: datetime) -> dict[int, str]:
    """Create programmes until the outbox holds ``messages`` rows; keep the first
    ``messages`` (parked at ``parked``), delete the rest. Returns id → Message-ID."""
    today = now.astimezone(fbh.tz).date()
    start = today + timedelta(days=21 - today.weekday())  # a Monday three weeks ahead
    index = 0
    while True:
        with fbh.store.transaction() as tx:
            if sum(tx.outbox.counts().values()) >= messages:
                break
        fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=f"Boligorganisation {index}",
                municipality="Aarhus",
                consultant=Contact(f"Konsulent {index}", f"konsulent{index}@bl.dk"),
                tovholder=Contact(f"Tovholder {index}", f"tovholder{index}@org.dk"),
                start=start + timedelta(weeks=index % 4),
                extensions=("tilpasset",) if index % 2 else (),
            ),
            now,
        )
        index += 1
    with fbh.store.transaction() as tx:
        ids = [row.id for row in tx.outbox.find()][:messages]
        session = tx.session
        session.execute(delete(OutboxMessage).where(col(OutboxMessage.id).not_in(ids)))
        session.execute(update(OutboxMessage).values(due_at=parked, next_attempt_at=parked))
        kept = {row.id: row.message_id for row in tx.outbox.find() if row.id is not None}
    assert len(kept) == messages, (len(kept), messages)
    return kept


def make_due(fbh: Fbh, at: datetime) -> None:
    """Every row due at ``at``, in one transaction that wakes a running daemon."""
    with fbh.store.transaction() as tx:
        tx.session.execute(update(OutboxMessage).values(due_at=at, next_attempt_at=at))
        tx.touch()  # NOTIFY on PostgreSQL; SQLite: the change counter fbh serve polls
        tx.touch()  # a change to the schedule: wakes the daemon (NOTIFY / change counter)


def rendered(fbh: Fbh) -> int:
    """How many outbox rows hold rendered bytes."""
    with fbh.store.transaction() as tx:
        statement = select(func.count()).where(col(OutboxMessage.rendered).is_not(None))
        return int(tx.session.execute(statement).scalar_one())


def states(fbh: Fbh) -> Counter[str]:
    with fbh.store.transaction() as tx:
        return Counter(tx.outbox.counts())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition: Any, seconds: float, what: str, daemon: subprocess.Popen[bytes]) -> None:
    began = time.monotonic()
    while not condition():
        if daemon.poll() is not None:
            raise SystemExit(f"fbh serve exited with {daemon.returncode} while waiting: {what}")
        if time.monotonic() - began > seconds:
            raise SystemExit(f"timed out after {seconds:.0f} s waiting: {what}")
        time.sleep(0.02)


def measure_once(options: Options) -> dict[str, float]:
    messages = int(options.get("messages") or DEFAULT_MESSAGES)
    home = Path(tempfile.mkdtemp(prefix="fbh-bench-delivery-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    daemon: subprocess.Popen[bytes] | None = None
    try:
        with SinkProcess.start(home / "arrivals.tsv", cwd=REPO) as sink:
            config = write_config(
                home,
                sink.port,
                extra_smtp=(
                    f"connections = {options['connections']}" if options.get("connections") else ""
                ),
                extra_daemon="\n".join(
                    f"{key} = {options[key]}"
                    for key in ("batch_size", "claim_ahead")
                    if options.get(key)
                ),
            )
            settings = load_settings(config)
            fbh = Fbh.open(settings, actor="bench")
            try:
                now = datetime.now(UTC)
                ahead = not options.get("render_at_send")
                expected = seed(fbh, messages, now, now + (PARKED if ahead else PARKED_OUTSIDE))
                log = (home / "serve.log").open("wb")
                command = [str(FBH), "--config", str(config), "serve"]
                if options.get("profile"):  # cProfile of the daemon, written when it stops
                    command = [sys.executable, "-m", "cProfile", "-o", options["profile"], *command]
                daemon = subprocess.Popen(
                    command,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    env=env,
                    cwd=home,
                )

                def ready() -> bool:
                    return b" ready: " in (home / "serve.log").read_bytes()

                wait_for(ready, 60, "fbh serve ready", daemon)
                if ahead:  # the daemon renders them in the background; not timed
                    wait_for(lambda: rendered(fbh) >= messages, 300, "rendered ahead", daemon)
                spy = None
                if options.get("pyspy"):  # sampled stacks of the daemon (py-spy, collapsed)
                    spy = subprocess.Popen(
                        [
                            *("py-spy", "record", "--pid", str(daemon.pid), "-r", "250"),
                            *("--format", "raw", "-o", options["pyspy"]),
                        ],
                        stdout=subprocess.DEVNULL,
                    )
                    time.sleep(1)
                cpu_before = cpu_seconds(daemon.pid)
                due = (datetime.now(UTC) + DUE_AHEAD).replace(microsecond=0)
                make_due(fbh, due)
                wait_for(lambda: sink.count() >= messages, DONE_WITHIN, "every message", daemon)

                def recorded() -> bool:
                    counts = states(fbh)
                    return counts.get("sent", 0) + counts.get("failed", 0) >= messages

                wait_for(recorded, 30, "the outbox records every row", daemon)
                cpu = cpu_seconds(daemon.pid) - cpu_before
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=30)
                time.sleep(SETTLE)
                counts = states(fbh)
            finally:
                fbh.store.dispose()
                if daemon is not None:
                    log.close()
            arrivals = sink.arrivals()
        check(arrivals, set(expected.values()), counts, messages)
        t0 = due.timestamp()
        lateness = [at - t0 for at, _ in arrivals]
        loop, loop_cpu = loop_throughput(home, settings, messages)
        throughput = messages / max(lateness)
        return {
            "loop_throughput": loop,
            "loop_cpu_ms_per_msg": loop_cpu * 1000 / messages,
            "share_of_loop": throughput / loop * 100,
            "throughput": throughput,
            "lateness_p50": harness.percentile(lateness, 0.50),
            "lateness_p99": harness.percentile(lateness, 0.99),
            "lateness_max": max(lateness),
            "first_arrival": min(lateness),
            "daemon_cpu_ms_per_msg": cpu * 1000 / messages,
        }
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        if options.get("keep"):
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


def loop_throughput(home: Path, settings: Any, messages: int) -> tuple[float, float]:
    """The plain aiosmtplib loop (:mod:`bench.peers.smtp_loop`) on the same messages, with
    fbh's number of connections, to a fresh sink: messages / (last arrival − start), and the
    CPU seconds the loop's process spent sending (comparable with the daemon's CPU)."""
    fbh = Fbh.open(settings, actor="bench")
    try:
        with fbh.store.transaction() as tx:
            rows = tx.outbox.find()
            now = datetime.now(UTC)
            envelopes = [render_envelope(row, settings, now) for row in rows]
    finally:
        fbh.store.dispose()
    batch = [smtp_loop.Message(e.sender, tuple(e.recipients), e.data) for e in envelopes[:messages]]
    with SinkProcess.start(home / "loop-arrivals.tsv", cwd=REPO) as sink:
        cpu_began = time.process_time()
        began = smtp_loop.send_all("127.0.0.1", sink.port, batch, settings.mail.smtp.connections)
        cpu = time.process_time() - cpu_began
        wait_until = time.monotonic() + DONE_WITHIN
        while sink.count() < len(batch) and time.monotonic() < wait_until:
            time.sleep(0.02)
        arrivals = sink.arrivals()
    if len(arrivals) != len(batch):
        raise SystemExit(f"the aiosmtplib loop: {len(arrivals)} of {len(batch)} arrived")
    return len(batch) / (max(at for at, _ in arrivals) - began), cpu


def check(
    arrivals: list[tuple[float, str]], expected: set[str], counts: Counter[str], messages: int
) -> None:
    """Every expected Message-ID arrived exactly once, and nothing else arrived."""
    seen = Counter(ident for _, ident in arrivals)
    duplicates = {ident: n for ident, n in seen.items() if n > 1}
    missing = expected - set(seen)
    unexpected = set(seen) - expected
    problems = []
    if duplicates:
        problems.append(f"{len(duplicates)} duplicated Message-IDs, e.g. {next(iter(duplicates))}")
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {next(iter(missing))}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected, e.g. {next(iter(unexpected))}")
    if counts.get("sent", 0) != messages:
        problems.append(f"outbox states {dict(counts)}, expected {messages} sent")
    if problems:
        raise SystemExit("delivery check failed: " + "; ".join(problems))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages", type=int, default=DEFAULT_MESSAGES, help="messages due at once"
    )
    parser.add_argument(
        "--connections", type=int, help="mail.smtp.connections (default: fbh's default)"
    )
    parser.add_argument("--batch-size", type=int, help="daemon.batch_size (default: fbh's)")
    parser.add_argument("--claim-ahead", type=int, help="daemon.claim_ahead (default: fbh's)")
    parser.add_argument(
        "--render-at-send",
        action="store_true",
        help="park the rows beyond the render-ahead horizon: rendered at send",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (debugging)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the daemon to FILE")
    parser.add_argument("--pyspy", metavar="FILE", help="sample the daemon with py-spy into FILE")


if __name__ == "__main__":
    harness.main(
        "delivery",
        METRICS,
        measure_once,
        description=(
            "fbh serve delivering N outbox messages all due at the same instant to an "
            "aiosmtpd sink in another process on 127.0.0.1 (SQLite, default [daemon] settings)"
        ),
        add_arguments=add_arguments,
    )
