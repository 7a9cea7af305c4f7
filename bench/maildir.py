"""The cost of a durable Maildir: delivering fbh's messages with and without ``fsync``.

Set-up (not timed): a fresh SQLite file with real programmes made by ``Fbh.create_programme``
until the outbox holds ``--messages`` rows; every row is rendered with
:func:`notifications.outbox.render_envelope` (invites, reminders, notices, summaries: fbh's
real sizes).

Measured: the rows are written into two fresh Maildirs by
:class:`notifications.transports.MaildirTransport`, in batches of ``--batch`` (the daemon's
``[daemon] batch_size``, 20), alternating a batch with ``fsync`` (``[mail] maildir_fsync =
true``, the default: each file synced before its rename into ``new/``, then ``new/`` once per
batch) and a batch without, so both see the same disk and the same load. Figures: the median
and p99 time of one batch, and the time per message, in each mode. Then, in a third folder
beside them, the same number of empty files is created (open with ``O_CREAT``, close): what
creating a file costs on this file system in this place, which no code of fbh's can avoid
and which depends on the file system's state (on ext4 without a journal, as on the benchmark
VM, creating a file scans past the inodes deleted nearby in the last minutes).

``python -m bench.maildir [--runs 5] [--messages 1000] [--batch 20]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench import harness
from bench.harness import Metric, Options, percentile
from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import OutboxMessage, Store
from notifications.envelope import render_envelope
from notifications.transports import Envelope, MaildirTransport

REPO = harness.BENCH.parent
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

METRICS = {
    "fsync_batch_p50": Metric("Maildir with fsync: one batch of 20, p50", "ms"),
    "fsync_batch_p99": Metric("Maildir with fsync: one batch of 20, p99", "ms"),
    "fsync_per_message": Metric("Maildir with fsync: per message", "ms"),
    "plain_batch_p50": Metric("Maildir without fsync: one batch of 20, p50", "ms"),
    "plain_batch_p99": Metric("Maildir without fsync: one batch of 20, p99", "ms"),
    "plain_per_message": Metric("Maildir without fsync: per message", "ms"),
    "fsync_cost_per_message": Metric("what fsync adds per message (with − without)", "ms"),
    "create_per_message": Metric("creating one empty file beside them (open, close)", "ms"),
}


def settings_for(home: Path, database: Path) -> Settings:
    """A SQLite installation in ``home`` whose mail goes nowhere the benchmark reads."""
    return Settings(
        base_dir=home,
        engine=EngineSection(workflows=str(REPO / "workflows")),
        database=DatabaseSection(url=f"sqlite:///{database}"),
        mail=MailSection(maildir=str(home / "unused"), lead="Programleder <lead@bl.dk>"),
    )


def queue_programmes(store: Store, settings: Settings, count: int) -> list[OutboxMessage]:
    """Real programmes (``Fbh.create_programme``) until the outbox holds ``count`` rows."""
    fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="bench")
    number = 0
    while True:
        with store.transaction() as tx:
            rows = tx.outbox.find()
        if len(rows) >= count:
            return rows
        number += 1
        fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=f"Boligselskab {number}",
                municipality="Helsingør",
                consultant=Contact("Anne Konsulent", f"anne{number}@bl.dk"),
                tovholder=Contact("Søren Tovholder", f"soren{number}@example.dk"),
                start=date(2027, 1, 4) + timedelta(weeks=number % 20),
            ),
            NOW,
        )


def envelopes(home: Path, count: int) -> list[Envelope]:
    settings = settings_for(home, home / "fbh.sqlite3")
    store = Store.open(settings.database_url)
    try:
        rows = queue_programmes(store, settings, count)
        return [render_envelope(row, settings, NOW) for row in rows[:count]]
    finally:
        store.dispose()


def measure_once(options: Options) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="fbh-bench-maildir-", dir=harness.BENCH.parent))
    try:
        batch = int(options["batch"])
        messages = envelopes(home, int(options["messages"]))
        transports = {
            "fsync": MaildirTransport(home / "synced", fsync=True),
            "plain": MaildirTransport(home / "plain", fsync=False),
        }
        times: dict[str, list[float]] = {mode: [] for mode in transports}
        for start in range(0, len(messages), batch):
            part = messages[start : start + batch]
            for mode, transport in transports.items():
                began = time.perf_counter()
                results = transport._deliver_all(part)  # the sync half of send_batch
                times[mode].append((time.perf_counter() - began) * 1000)
                if not all(r.ok for r in results):
                    raise SystemExit(f"{mode}: a message was not written")
        figures: dict[str, float] = {}
        for mode, values in times.items():
            figures[f"{mode}_batch_p50"] = percentile(values, 0.50)
            figures[f"{mode}_batch_p99"] = percentile(values, 0.99)
            figures[f"{mode}_per_message"] = sum(values) / len(messages)
        figures["fsync_cost_per_message"] = (
            figures["fsync_per_message"] - figures["plain_per_message"]
        )
        figures["create_per_message"] = create_cost(home / "empty", len(messages))
        return figures
    finally:
        harness.discard(home)  # after the last run: deleting now would slow the next one


def create_cost(folder: Path, count: int) -> float:
    """Milliseconds per file to create ``count`` empty files in ``folder``."""
    folder.mkdir()
    began = time.perf_counter()
    for number in range(count):
        os.close(os.open(folder / str(number), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return (time.perf_counter() - began) * 1000 / count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=1000, help="messages written per mode")
    parser.add_argument("--batch", type=int, default=20, help="messages per batch")


def main() -> None:
    harness.main(
        "maildir",
        METRICS,
        measure_once,
        description=__doc__.split("\n\n")[0] if __doc__ else "maildir",
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    main()
