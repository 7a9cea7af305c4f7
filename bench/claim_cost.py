"""What fbh's claim and record cost per row on SQLite: with the rendered bytes in the row and
without them, and in batches of 20 and of 200.

Render ahead keeps a message's bytes (about 11 KB for an invite) in its outbox row. SQLite
stores a row as one record, so an UPDATE that changes only the state still reads the record
and writes it back, bytes and all. This measures that cost alone, on fbh's own store code.

Set-up (not timed): a fresh SQLite file with real programmes made by ``Fbh.create_programme``
until the outbox holds ``--messages`` pending rows, every one rendered ahead
(:func:`notifications.prerender.render_ahead`) and due at one instant. The file is copied,
and in the copy the bytes are cleared (both files are then vacuumed, so each is laid out
fresh).

Measured: batches of ``--batch`` rows (the daemon's ``[daemon] batch_size``) are claimed with
``Outbox.claim_due`` and recorded with ``Outbox.finish_sent``, one transaction each, as the
daemon records a batch it has sent, alternating a batch on the file with bytes and a batch on
the file without, so both see the same disk and the same load; then, on a third copy with
the bytes, the same in batches of ``--big-batch`` (per statement or per row: which cost is
it?). No mail is written. Figures: milliseconds per row, wall and CPU, in each mode.

``python -m bench.claim_cost [--runs 5] [--messages 1000] [--batch 20] [--big-batch 200]``
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import harness
from bench.harness import Metric, Options
from bench.maildir import NOW, queue_programmes, settings_for
from engine.config.settings import Settings
from engine.store.store import Store
from notifications.prerender import render_ahead
from notifications.rendered import fingerprint

REPO = harness.BENCH.parent
DUE = NOW + timedelta(days=1)
YEARS = 5 * 365 * 86400  # render every queued row, however far ahead it is due

METRICS = {
    "bytes_wall": Metric("claim + record, bytes in the row: wall per row", "ms"),
    "bytes_cpu": Metric("claim + record, bytes in the row: CPU per row", "ms"),
    "bare_wall": Metric("claim + record, no bytes in the row: wall per row", "ms"),
    "bare_cpu": Metric("claim + record, no bytes in the row: CPU per row", "ms"),
    "bytes_extra_wall": Metric("what the bytes in the row add per row (wall)", "ms"),
    "big_wall": Metric("claim + record in batches of 200, bytes in the row: wall per row", "ms"),
    "big_cpu": Metric("claim + record in batches of 200, bytes in the row: CPU per row", "ms"),
    "rendered_kb": Metric("rendered bytes per row (mean)", "KB"),
}


def seed(settings: Settings, count: int) -> None:
    """Programmes until ``count`` rows are queued; all rendered, and all due at ``DUE``."""
    store = Store.open(settings.database_url)
    try:
        queue_programmes(store, settings, count)
        render_ahead(store, settings, NOW, YEARS)
    finally:
        store.dispose()


def prepare(database: Path, *, keep_bytes: bool) -> float:
    """Make every pending row due at ``DUE`` (and bare if not ``keep_bytes``), vacuum; returns
    the mean rendered size in KB."""
    with sqlite3.connect(database) as db:
        db.execute("UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending'", (DUE_TEXT,))
        if not keep_bytes:
            db.execute("UPDATE outbox SET rendered = NULL, rendered_with = NULL")
        size = db.execute("SELECT avg(length(rendered)) FROM outbox").fetchone()[0] or 0.0
    with sqlite3.connect(database) as db:
        db.execute("VACUUM")
    return float(size) / 1024


DUE_TEXT = DUE.replace(tzinfo=None).isoformat(sep=" ")


def claim_and_record(store: Store, batch: int, current: str) -> tuple[int, float, float]:
    """One batch: claim, then record it sent; rows, wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    with store.transaction() as tx:
        rows = tx.outbox.claim_due(DUE, "bench", batch, current=current)
    with store.transaction() as tx:
        tx.outbox.finish_sent([row.id for row in rows if row.id is not None], "bench", DUE)
    return len(rows), time.perf_counter() - wall, time.process_time() - cpu


def measure_once(options: Options) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="fbh-bench-claim-", dir=harness.BENCH.parent))
    try:
        settings = settings_for(home, home / "bytes.sqlite3")
        seed(settings, int(options["messages"]))
        shutil.copyfile(home / "bytes.sqlite3", home / "bare.sqlite3")
        shutil.copyfile(home / "bytes.sqlite3", home / "big.sqlite3")
        kilobytes = prepare(home / "bytes.sqlite3", keep_bytes=True)
        prepare(home / "bare.sqlite3", keep_bytes=False)
        prepare(home / "big.sqlite3", keep_bytes=True)
        current = fingerprint(settings)
        stores = {
            mode: Store.open(f"sqlite:///{home / f'{mode}.sqlite3'}")
            for mode in ("bytes", "bare", "big")
        }
        batches = {"bytes": int(options["batch"]), "bare": int(options["batch"])}
        batches["big"] = int(options["big_batch"])
        totals = {mode: [0.0, 0.0, 0.0] for mode in stores}  # rows, wall, CPU
        try:
            while True:
                taken = 0
                for mode, store in stores.items():
                    rows, wall, cpu = claim_and_record(store, batches[mode], current)
                    total = totals[mode]
                    total[0], total[1], total[2] = total[0] + rows, total[1] + wall, total[2] + cpu
                    taken += rows
                if not taken:
                    break
        finally:
            for store in stores.values():
                store.dispose()
        if len({total[0] for total in totals.values()}) != 1 or not totals["bytes"][0]:
            raise SystemExit(f"the copies claimed different numbers of rows: {totals}")
        figures: dict[str, float] = {"rendered_kb": kilobytes}
        for mode, (claimed, wall, cpu) in totals.items():
            figures[f"{mode}_wall"] = wall * 1000 / claimed
            figures[f"{mode}_cpu"] = cpu * 1000 / claimed
        figures["bytes_extra_wall"] = figures["bytes_wall"] - figures["bare_wall"]
        return figures
    finally:
        harness.discard(home)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=1000, help="rows claimed per mode")
    parser.add_argument("--batch", type=int, default=20, help="rows per claim")
    parser.add_argument("--big-batch", type=int, default=200, help="rows per claim, third copy")


def main() -> None:
    harness.main(
        "claim_cost",
        METRICS,
        measure_once,
        description=__doc__.splitlines()[0] if __doc__ else "",
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    main()
