"""The job function the peers schedule (importable by name, as APScheduler's job store keeps
it): it hands the message to the process's :class:`~bench.peers.work.Work`."""

from __future__ import annotations

from typing import Any

from bench.peers.work import Work

WORK: Work | None = None  # set by the runner process


def deliver(key: str, payload: dict[str, Any]) -> None:
    assert WORK is not None, "the runner sets bench.peers.jobs.WORK"
    WORK.run(key, payload)


async def deliver_async(key: str, payload: dict[str, Any]) -> None:
    assert WORK is not None, "the runner sets bench.peers.jobs.WORK"
    await WORK.run_async(key, payload)
