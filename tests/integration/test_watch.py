"""Change watching (engine.backends): a commit that changes the schedule wakes the daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.backends import backend_for
from engine.backends.sqlite import SqliteWatcher
from engine.store.store import Store


async def test_a_change_committed_while_the_daemon_starts_is_not_missed(backend_url: str) -> None:
    """The daemon takes the watcher's baseline (``start``) before it first reads its due times;
    a commit after that read but before the watch task first runs must still wake it, at once
    and not at the next safety poll."""
    store = Store.open(backend_url)
    watcher = backend_for(backend_url).watcher(interval=3600)  # no poll within the test
    try:
        await watcher.start()
        with store.transaction() as tx:
            tx.touch()  # committed after the baseline, before the watch task runs
        woken = asyncio.Event()
        task = asyncio.create_task(watcher.run(woken.set))
        try:
            await asyncio.wait_for(woken.wait(), timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        store.dispose()


async def test_without_a_change_the_watcher_does_not_wake_the_daemon(tmp_path: Path) -> None:
    """The first look compares with the baseline: nothing changed, so nothing to re-read."""
    database = tmp_path / "fbh.sqlite3"
    store = Store.open(f"sqlite:///{database}")
    try:
        with store.transaction() as tx:
            tx.touch()  # before the baseline: the daemon's first read sees it
        watcher = SqliteWatcher(database, interval=3600)
        await watcher.start()
        calls: list[int] = []
        task = asyncio.create_task(watcher.run(lambda: calls.append(1)))
        try:
            for _ in range(5):  # the first look needs no wait; let the task reach its sleep
                await asyncio.sleep(0)
            assert not task.done()
            assert calls == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        store.dispose()


async def test_a_later_change_wakes_the_daemon(tmp_path: Path) -> None:
    database = tmp_path / "fbh.sqlite3"
    store = Store.open(f"sqlite:///{database}")
    try:
        changed = asyncio.Event()
        watcher = SqliteWatcher(database, interval=0.01)
        await watcher.start()
        task = asyncio.create_task(watcher.run(changed.set))
        try:
            await asyncio.sleep(0)
            assert not changed.is_set()
            with store.transaction() as tx:
                tx.touch()
            await asyncio.wait_for(changed.wait(), timeout=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        store.dispose()
