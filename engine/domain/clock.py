"""The one clock of the process. Logic takes ``now`` as an argument; only entry points (the
CLI and the daemon) read the clock, so tests move time with time-machine."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
