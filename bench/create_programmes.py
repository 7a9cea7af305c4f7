"""Create many programmes through the engine's own API, on SQLite (issue 15 target: 10,000 ≤ 5 s).

Set-up (not timed): a fresh SQLite file in a temporary folder, migrated, and the batch of
``--count`` programmes: 1,000 consultants, programme i has consultant ``i % 1000``, its own
organisation and tovholder, and starts on 2027-01-04 + 5 weeks × (i // 1000) (so a consultant
gets a new programme every 5 weeks: denser loads fail with "no free working day", because
meeting times are fixed); every 4th programme also runs TILPASSET as an extension (its
agreement is the socialt-beredskab programme it extends). ``now`` is 2026-12-01, before every
start, so every invite, check-in and summary is queued, and the reminders and task notices due
within ``mail.queue_ahead_days`` (14 days by default: none of them; the rest are queued later
by the top-up, engine/services/horizon.py).

Measured: the wall time of one ``Fbh.create_programmes`` call over the whole batch (default
chunks) and the CPU time of the process during it, then programmes per second, and, read
back from the file with ``sqlite3``, the milestones created and the outbox rows queued; and
the peak RSS of the process.

``python -m bench.create_programmes [--runs 5] [--count 10000] [--chunk-size 500]
[--profile FILE]`` (``--profile``: a cProfile of the create call, as docs/benchmarks.md cites)
"""

from __future__ import annotations

import argparse
import cProfile
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench import harness
from bench.harness import Metric, Options
from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import CHUNK_SIZE, Fbh, NewProgramme
from engine.store.store import Store

REPO = harness.BENCH.parent
DEFAULT_COUNT = 10_000
CONSULTANTS = 1_000
FIRST_START = date(2027, 1, 4)
START_EVERY = timedelta(weeks=5)  # between two programmes of one consultant
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
MUNICIPALITIES = ("Helsingør", "Aarhus", "Odense", "Aalborg", "Esbjerg", "Køge", "Næstved")

METRICS = {
    "create_s": Metric("Create programmes on SQLite (create_programmes)", "s", target=5),
    "create_cpu_s": Metric("CPU time of the create call (less disturbed by load)", "s"),
    "programmes_per_s": Metric("Programmes created per second", "1/s", higher_is_better=True),
    "milestones": Metric("Milestones created", "rows"),
    "outbox_rows": Metric("Outbox rows queued", "rows"),
    "peak_rss_mb": Metric("Peak RSS of the process", "MB"),
}


def settings_for(home: Path) -> Settings:
    return Settings(
        base_dir=home,
        engine=EngineSection(workflows=str(REPO / "workflows")),
        database=DatabaseSection(url=f"sqlite:///{home / 'fbh.sqlite3'}"),
        mail=MailSection(
            maildir=str(home / "mail"),
            sender="Fra bolig til hjem <fraboligtilhjem@bl.dk>",
            lead="Programleder <programleder@bl.dk>",
        ),
    )


def batch(count: int) -> list[NewProgramme]:
    """The programmes to create (see the module's docstring)."""
    return [
        NewProgramme(
            workflow="socialt-beredskab",
            organisation=f"Boligorganisation {i:05d}",
            municipality=MUNICIPALITIES[i % len(MUNICIPALITIES)],
            consultant=Contact(f"Konsulent {i % CONSULTANTS}", f"k{i % CONSULTANTS}@bl.dk"),
            tovholder=Contact(f"Tovholder {i}", f"tovholder{i}@bo{i}.example.dk"),
            start=FIRST_START + START_EVERY * (i // CONSULTANTS),
            extensions=("tilpasset",) if i % 4 == 3 else (),
        )
        for i in range(count)
    ]


def count_rows(database: Path, table: str) -> int:
    with sqlite3.connect(database) as connection:
        found: int = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return found


def measure_once(options: Options) -> dict[str, float]:
    count = int(options.get("count", DEFAULT_COUNT))
    chunk_size = int(options.get("chunk_size", CHUNK_SIZE))
    with tempfile.TemporaryDirectory(prefix="fbh-create-") as folder:
        home = Path(folder)
        settings = settings_for(home)
        store = Store.open(settings.database_url)  # migrates: not timed
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="bench")
        programmes = batch(count)
        profile = cProfile.Profile() if options.get("profile") else None
        started, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        ids = fbh.create_programmes(programmes, NOW, chunk_size=chunk_size)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profile is not None:
            profile.disable()
            profile.dump_stats(options["profile"])
        store.dispose()
        database = home / "fbh.sqlite3"
        if len(ids) != count or count_rows(database, "programmes") != count:
            raise SystemExit(f"expected {count} programmes, the database holds another number")
        return {
            "create_s": elapsed,
            "create_cpu_s": cpu,
            "programmes_per_s": count / elapsed,
            "milestones": float(count_rows(database, "milestones")),
            "outbox_rows": float(count_rows(database, "outbox")),
            "peak_rss_mb": harness.peak_rss_mb(),
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help="programmes to create (default 10000)"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=CHUNK_SIZE,
        help=f"programmes per transaction (default {CHUNK_SIZE})",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the create call to FILE"
    )


if __name__ == "__main__":
    harness.main(
        "create_programmes",
        METRICS,
        measure_once,
        description=(
            "Create --count programmes (1,000 consultants, every 4th with TILPASSET) through "
            "Fbh.create_programmes on a fresh SQLite file: wall time, rows written, peak RSS"
        ),
        add_arguments=add_arguments,
    )
