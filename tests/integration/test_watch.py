"""engine.backends.watch on SQLite: the change counter the store bumps wakes the daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.backends.watch import SqliteWatcher
from engine.store.store import Store


async def test_a_change_committed_while_the_daemon_starts_is_not_missed(tmp_path: Path) -> None:
    """The watcher takes its baseline when its task first runs, which can be after the
    daemon read its due times; a commit in between must still wake the daemon, at once and
    not at the next safety poll."""
    database = tmp_path / "fbh.sqlite3"
    store = Store.open(f"sqlite:///{database}")
    try:
        with store.transaction() as tx:
            tx.touch()  # committed before the watcher's first read
        woken = asyncio.Event()
        watcher = SqliteWatcher(database, interval=3600)  # no poll within the test
        task = asyncio.create_task(watcher.run(woken.set))
        try:
            await asyncio.wait_for(woken.wait(), timeout=10)
        finally:
            task.cancel()
    finally:
        store.dispose()


async def test_a_later_change_wakes_the_daemon(tmp_path: Path) -> None:
    database = tmp_path / "fbh.sqlite3"
    store = Store.open(f"sqlite:///{database}")
    try:
        calls: list[int] = []
        changed = asyncio.Event()

        def on_change() -> None:
            calls.append(1)
            if len(calls) == 2:
                changed.set()

        task = asyncio.create_task(SqliteWatcher(database, interval=0.01).run(on_change))
        try:
            while not calls:
                await asyncio.sleep(0.01)
            with store.transaction() as tx:
                tx.touch()
            await asyncio.wait_for(changed.wait(), timeout=10)
        finally:
            task.cancel()
    finally:
        store.dispose()
