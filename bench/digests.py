"""Weekly digests for 500 consultants with 20 programmes each: queueing and rendering.

Set-up (not timed, cached): one consultant's world is made through fbh's own API —
``Fbh.create_programme`` for 20 programmes (socialt beredskab, every third with TILPASSET)
starting from 16 weeks before the digest to 4 weeks after it, each created three weeks
before its start; ``Fbh.advance`` up to the digest time (programmes started, tasks opened
and overdue, meetings held, two programmes completed); some tasks marked done; the
tovholders' hours logged with ``engine.services.timelog.log_time``; two requests assigned to the
consultant; the mail due before the digest recorded as sent, and two reminders recorded as
missed (as the daemon does after downtime). Those rows — programmes, milestones, invites,
outbox, events, time entries, people, organisations, requests — are then cloned with SQL
``INSERT … SELECT`` for consultants 2 … 500 (new ids, names, addresses and dedupe keys), and
three unassigned requests are added, which every consultant's digest lists. The seeded file
is cached (``$FBH_BENCH_WORK`` or ``/tmp/fbh-bench``, keyed by the parameters, this file's
``SEED_VERSION`` and the schema head) and copied for each run.

Measured, in a fresh process per run, on a fresh copy, the work from the digest time until
every digest is built, rendered and ready to send:
``engine.services.digests.queue_weekly_digests`` (what the daemon runs at the digest time:
every consultant's digest and the lead's, built, rendered to its MIME bytes and queued in the
outbox with those bytes), then every queued digest claimed as the daemon's delivery does,
``daemon.batch_size`` at a time, and its wire message taken with
``notifications.envelope.envelope_of`` (the stored bytes with a fresh ``Date``; not sent). The
benchmark fails if a digest had no current bytes, so the figure always includes rendering:
until issue 15 the digests were rendered in the second step, from the JSON payload; now they
are rendered in the first, from the context in memory (docs/benchmarks.md, "Digests").

``python -m bench.digests [--runs 5] [--consultants 500] [--programmes 20]``
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text, update
from sqlmodel import col

from bench import harness
from bench.harness import Metric, Options
from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings
from engine.domain.definitions import load_registry
from engine.domain.errors import PlanningError
from engine.domain.model import Contact
from engine.services.digests import queue_weekly_digests
from engine.services.facade import Fbh, NewProgramme
from engine.services.timelog import log_time
from engine.store.database import head_revision
from engine.store.store import Store
from engine.store.tables import OutboxMessage
from notifications.envelope import envelope_of
from notifications.rendered import fingerprint

SEED_VERSION = "1"
REPO = harness.BENCH.parent
WORK = Path(os.environ.get("FBH_BENCH_WORK", Path(tempfile.gettempdir()) / "fbh-bench"))
NOW = datetime(2027, 3, 8, 6, 0, tzinfo=UTC)  # Monday 8 March 2027, 07:00 in Copenhagen
DIGEST_KINDS = ("digest_consultant", "digest_lead")

METRICS = {
    "total": Metric(
        "Weekly digests, 500 consultants × 20 programmes: queue + render (ready to send)", "s", 3
    ),
    "queue": Metric("Weekly digests: build, render and queue (queue_weekly_digests)", "s"),
    "claim": Metric("Weekly digests: claim every queued digest and take its bytes", "s"),
    "cpu_queue": Metric("Weekly digests: CPU time of building, rendering and queueing", "s"),
    "cpu_claim": Metric("Weekly digests: CPU time of claiming and taking the bytes", "s"),
    "per_consultant_ms": Metric("Weekly digests: per consultant, queue + render", "ms"),
    "peak_rss_mb": Metric("Weekly digests: peak RSS of the process", "MB"),
    "consultant_mail_kb": Metric(
        "Weekly digests: size of a consultant's mail (median)", "KB", target=100
    ),
    "consultant_mail_max_kb": Metric(
        "Weekly digests: size of the largest consultant's mail", "KB", target=100
    ),
    "lead_mail_kb": Metric(
        "Weekly digests: size of the lead's mail (with the CSV overview)", "KB", target=1024
    ),
}


def bench_settings(home: Path, database: Path) -> Settings:
    return Settings(
        base_dir=home,
        engine=EngineSection(workflows=str(REPO / "workflows")),
        database=DatabaseSection(url=f"sqlite:///{database}"),
        mail=MailSection(
            maildir=str(home / "mail"),
            sender="Fra bolig til hjem <fraboligtilhjem@bl.dk>",
            lead="Programleder <programleder@bl.dk>",
        ),
    )


# ----- seeding ---------------------------------------------------------------------------------


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def seed_template(fbh: Fbh, programmes: int) -> None:
    """One consultant's world, through fbh's API."""
    today = NOW.date()
    consultant = Contact("Konsulent 0", "konsulent0@bl.dk")
    ids = []
    for index in reversed(range(programmes)):  # in the order they were created
        # From 20 weeks back (completed lately) to 4 weeks ahead, one or two a week.
        start = monday(today) + timedelta(weeks=4 - index)
        for _attempt in range(15):  # a start whose meetings fit the consultant's calendar
            created = datetime.combine(start - timedelta(weeks=3), datetime.min.time(), UTC)
            try:
                view = fbh.create_programme(
                    NewProgramme(
                        workflow="socialt-beredskab",
                        organisation=f"Boligorganisation 0-{index}",
                        municipality=("Aarhus", "Helsingør", "Odense", "Aalborg")[index % 4],
                        consultant=consultant,
                        tovholder=Contact(f"Tovholder 0-{index}", f"tovholder0-{index}@org.dk"),
                        start=start,
                        extensions=("tilpasset",) if index % 3 == 0 else (),
                    ),
                    created + timedelta(hours=9),
                )
                break
            except PlanningError:
                start += timedelta(days=1)
        else:
            raise SystemExit(f"no start for programme {index} fits the consultant's calendar")
        ids.append(view.id)
    fbh.advance(NOW)
    for position, programme_id in enumerate(ids):
        view = fbh.show(programme_id)
        if today <= view.start:
            continue
        tasks = [
            m
            for m in view.milestones
            if not m.planned.is_meeting and m.planned.window_end < today and m.state == "overdue"
        ]
        if view.state != "completed":
            for milestone in tasks[: len(tasks) // 2 + position % 2]:  # some done, some not
                fbh.milestone_done(programme_id, milestone.planned.key, NOW)
        days = [view.start + timedelta(days=d) for d in (1, 8, 15, 29, 43)]
        for number, day in enumerate(d for d in days if d < today):
            log_time(fbh, programme_id, hours=1.5 + (number + position) % 4, day=day, now=NOW)
    for number, received in enumerate((today - timedelta(days=12), today - timedelta(days=4))):
        request = fbh.add_request(
            organisation=f"Henvendelse 0-{number}",
            contact=Contact(f"Kontakt 0-{number}", f"kontakt0-{number}@org.dk"),
            wished_start=today + timedelta(weeks=8),
            received=received,
            now=NOW,
        )
        with fbh.store.transaction() as tx:
            row = tx.requests.get(request.id)
            person = tx.people.by_email(consultant.email)
            assert person is not None
            row.consultant_id = person.id
            tx.save(row)
    with fbh.store.transaction() as tx:
        tx.session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.state) == "pending", col(OutboxMessage.due_at) < NOW)
            .values(state="sent", sent_at=OutboxMessage.due_at)
        )
        late = [
            r
            for r in tx.outbox.find(states=["sent"])
            if r.kind == "reminder" and NOW - timedelta(days=6) < r.due_at < NOW
        ]
        for message in late[:2]:  # the daemon was down when these fell due
            message.state = "pending"
            tx.save(message)
            tx.outbox.mark_missed(message, message.due_at, actor="daemon", reason="bench")


_CLONED = (
    "organisations",
    "people",
    "programmes",
    "milestones",
    "invites",
    "outbox",
    "events",
    "time_entries",
    "requests",
)


def clone(engine: Engine, copies: int) -> None:
    """Copy every template row ``copies`` times with SQL (clone k of consultant k + 1)."""
    with engine.begin() as connection:
        stride = {
            table: connection.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar()
            for table in _CLONED
        }
        connection.execute(text("CREATE TEMP TABLE clones (k INTEGER PRIMARY KEY)"))
        connection.execute(
            text("INSERT INTO clones (k) VALUES (:k)"), [{"k": k} for k in range(1, copies + 1)]
        )

        def shift(column: str, table: str) -> str:
            return f"{column} + clones.k * {stride[table]}"

        address = "replace({}, '@', '+' || clones.k || '@')"
        overrides: dict[str, dict[str, str]] = {
            "organisations": {"name": "name || ' #' || clones.k"},
            "people": {"name": "name || ' #' || clones.k", "email": address.format("email")},
            "programmes": {
                "organisation_id": shift("organisation_id", "organisations"),
                "consultant_id": shift("consultant_id", "people"),
                "tovholder_id": shift("tovholder_id", "people"),
            },
            "milestones": {"programme_id": shift("programme_id", "programmes")},
            "invites": {
                "programme_id": shift("programme_id", "programmes"),
                "milestone_id": shift("milestone_id", "milestones"),
                "recipient": address.format("recipient"),
            },
            "outbox": {
                "dedupe_key": "dedupe_key || ':' || clones.k",
                "programme_id": shift("programme_id", "programmes"),
                "milestone_id": shift("milestone_id", "milestones"),
                "recipient": address.format("recipient"),
                "message_id": address.format("message_id"),
            },
            "events": {
                "programme_id": shift("programme_id", "programmes"),
                "entity_id": "entity_id + clones.k * CASE entity "
                + " ".join(
                    f"WHEN '{entity}' THEN {stride[table]}"
                    for entity, table in (
                        ("programme", "programmes"),
                        ("milestone", "milestones"),
                        ("outbox", "outbox"),
                        ("time", "time_entries"),
                        ("request", "requests"),
                    )
                )
                + " ELSE 0 END",
            },
            "time_entries": {
                "programme_id": shift("programme_id", "programmes"),
                "person_id": shift("person_id", "people"),
            },
            "requests": {
                "organisation": "organisation || ' #' || clones.k",
                "contact_email": address.format("contact_email"),
                "consultant_id": shift("consultant_id", "people"),
                "programme_id": shift("programme_id", "programmes"),
            },
        }
        for table in _CLONED:
            columns = [row[1] for row in connection.execute(text(f"PRAGMA table_info({table})"))]
            values = [
                shift("id", table) if c == "id" else overrides[table].get(c, c) for c in columns
            ]
            where = "WHERE consultant_id IS NOT NULL" if table == "requests" else ""
            connection.execute(
                text(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"SELECT {', '.join(values)} FROM {table} CROSS JOIN clones {where}"
                )
            )
        connection.execute(text("DROP TABLE clones"))


def add_unassigned(fbh: Fbh) -> None:
    for number, days in enumerate((13, 9, 2)):
        fbh.add_request(
            organisation=f"Ufordelt henvendelse {number}",
            contact=Contact(f"Kontakt U{number}", f"ufordelt{number}@org.dk"),
            wished_start=NOW.date() + timedelta(weeks=10),
            received=NOW.date() - timedelta(days=days),
            now=NOW,
        )


def template(consultants: int, programmes: int) -> Path:
    """The seeded SQLite file for these parameters (made once, then reused)."""
    key = f"{SEED_VERSION}:{consultants}:{programmes}:{head_revision()}:{NOW.isoformat()}"
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = WORK / f"digests-{consultants}x{programmes}-{name}.sqlite3"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="fbh-bench-digests-seed-", dir=WORK))
    try:
        building = home / "fbh.sqlite3"
        settings = bench_settings(home, building)
        store = Store.open(settings.database_url)
        try:
            fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="bench")
            began = time.perf_counter()
            seed_template(fbh, programmes)
            clone(store.engine, consultants - 1)
            add_unassigned(fbh)
        finally:
            store.dispose()
        connection = sqlite3.connect(building)
        try:
            connection.execute("ANALYZE")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        seconds = time.perf_counter() - began
        os.replace(building, path)
        print(f"seeded {path} in {seconds:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return path


# ----- measuring -------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded_world(options: Options, prefix: str) -> Iterator[Fbh]:
    """A fresh copy of the cached seeded world (``--consultants`` × ``--programmes``), opened
    as ``Fbh``; the copy is removed afterwards."""
    source = template(int(options.get("consultants") or 500), int(options.get("programmes") or 20))
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))
    try:
        database = home / "fbh.sqlite3"
        shutil.copyfile(source, database)
        settings = bench_settings(home, database)
        store = Store.open(settings.database_url)
        try:
            yield Fbh(settings, store, load_registry(settings.workflows_dir), actor="bench")
        finally:
            store.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def measure_once(options: Options) -> dict[str, float]:
    consultants = int(options.get("consultants") or 500)
    programmes = int(options.get("programmes") or 20)
    with seeded_world(options, "fbh-bench-digests-") as fbh:
        settings, store = fbh.settings, fbh.store
        check_world(fbh, consultants, programmes)
        profile = cProfile.Profile() if options.get("profile") else None
        if profile is not None:
            profile.enable()
        began, cpu_began = time.perf_counter(), time.process_time()
        queued = queue_weekly_digests(fbh, NOW)
        queued_at, cpu_queued = time.perf_counter(), time.process_time()
        rows, sizes = [], []
        current = fingerprint(settings)
        while True:  # as the daemon does: claim what is due, a batch at a time
            with store.transaction() as tx:
                batch = tx.outbox.claim_due(NOW, "bench", settings.daemon.batch_size)
            if not batch:
                break
            if any(row.rendered is None or row.rendered_with != current for row in batch):
                raise SystemExit("a digest was queued without its rendered bytes")
            sizes += [(row.kind, len(envelope_of(row, settings, NOW).data)) for row in batch]
            rows += batch
        done, cpu_done = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.disable()
            profile.dump_stats(options["profile"])
    if (
        queued != consultants + 1
        or len(rows) != queued
        or any(r.kind not in DIGEST_KINDS for r in rows)
    ):
        raise SystemExit(f"queued {queued} digests, {len(rows)} rows; expected {consultants + 1}")
    consultant_sizes = sorted(size for kind, size in sizes if kind == DIGEST_KINDS[0])
    lead_size = max(size for kind, size in sizes if kind == DIGEST_KINDS[1])
    total = done - began
    return {
        "total": total,
        "queue": queued_at - began,
        "claim": done - queued_at,
        "cpu_queue": cpu_queued - cpu_began,
        "cpu_claim": cpu_done - cpu_queued,
        "per_consultant_ms": total * 1000 / consultants,
        "peak_rss_mb": harness.peak_rss_mb(),
        "consultant_mail_kb": consultant_sizes[len(consultant_sizes) // 2] / 1024,
        "consultant_mail_max_kb": consultant_sizes[-1] / 1024,
        "lead_mail_kb": lead_size / 1024,
    }


def check_world(fbh: Fbh, consultants: int, programmes: int) -> None:
    """The seeded world is what the benchmark says it is."""
    with fbh.store.transaction() as tx:
        counts: dict[str, Any] = {
            table: tx.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("programmes", "people", "milestones", "outbox", "events")
        }
        live = tx.session.execute(
            text(
                "SELECT count(DISTINCT consultant_id) FROM programmes "
                "WHERE state IN ('planned', 'running', 'paused')"
            )
        ).scalar()
    if counts["programmes"] != consultants * programmes or live != consultants:
        raise SystemExit(f"unexpected seed: {counts}, {live} consultants with live programmes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consultants", type=int, default=500)
    parser.add_argument("--programmes", type=int, default=20, help="per consultant")
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the queueing and rendering to FILE"
    )


if __name__ == "__main__":
    harness.main(
        "digests",
        METRICS,
        measure_once,
        description=(
            "engine.services.digests.queue_weekly_digests for N consultants with M programmes each "
            "(SQLite; each digest built, rendered to MIME and queued with its bytes), then every "
            "queued digest claimed and its bytes taken as the outbox does"
        ),
        add_arguments=add_arguments,
    )
