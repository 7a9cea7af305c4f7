"""The state every part of the daemon shares: settings, clock, leadership, timer, wake-ups."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from engine.backends.abc import Leadership, Watcher
from engine.config.daemon import DaemonSection
from engine.daemon.jobs import LeaderJobs, standard_jobs
from engine.daemon.timer import Timer, weekly_trigger
from engine.domain import clock as default_clock
from engine.services.delivery_failures import failure_notices
from engine.services.facade import Fbh
from engine.store import daemons as daemon_store
from notifications.outbox import OutboxWorker
from notifications.transports import Transport

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR = timedelta(seconds=5)

Clock = Callable[[], datetime]


def daemon_name(configured: str | None = None) -> str:
    """The daemon's name: its heartbeat row and the worker id of its outbox claims."""
    label = configured or f"{socket.gethostname()}:{os.getpid()}"
    return f"{daemon_store.DAEMON_PREFIX}{label}:{os.urandom(3).hex()}"


def lease_seconds(options: DaemonSection) -> float:
    """How long a silent leader keeps the lead (PostgreSQL): the heartbeat timeout, but at
    least four leader checks, so that a leader checking on time never fences itself (it does
    after half the lease) and is never taken for a frozen one."""
    return max(options.heartbeat_timeout_seconds, 4 * options.leader_check_seconds)


@dataclass
class Wake:
    """A loop's wake-up event and the timer job that sets it."""

    job_id: str
    event: asyncio.Event


class DaemonCore:
    """What the loops share; :class:`engine.daemon.runner.Daemon` puts them together."""

    def __init__(
        self,
        fbh: Fbh,
        transport: Transport,
        *,
        clock: Clock = default_clock.utcnow,
        leadership: Leadership | None = None,
        watcher: Watcher | None = None,
        name: str | None = None,
        jobs: LeaderJobs | None = None,
    ) -> None:
        self.fbh = fbh
        self.settings = fbh.settings
        self.options = fbh.settings.daemon
        self.clock = clock
        self.name = name or daemon_name(self.options.name)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = clock()
        self.backend = fbh.store.backend
        self.leadership = leadership or self.backend.leadership(
            timeout=max(self.options.leader_check_seconds, 1.0), lease=lease_seconds(self.options)
        )
        self.backend.bound_idle_transactions(fbh.store.engine, lease_seconds(self.options))
        self.watcher = watcher or self.backend.watcher(interval=self.options.watch_seconds)
        self.transport = transport
        self.worker = OutboxWorker(
            fbh.store,
            transport,
            self.settings,
            worker_id=self.name,
            on_failed=failure_notices(fbh),
        )
        self.timer = Timer()
        self._deliver = Wake("wake-deliver", asyncio.Event())
        self._advance = Wake("wake-advance", asyncio.Event())
        self._render = Wake("wake-render", asyncio.Event())
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set when it logs its `ready` line
        self._last_beat: datetime | None = None
        self._leading = False  # what the last leadership check said
        self._last_tick: tuple[datetime, float] | None = None  # wall clock, monotonic clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.jobs = standard_jobs() if jobs is None else jobs

    def stop(self) -> None:
        """Ask the daemon to stop (safe to call from a signal handler)."""
        if not self._stop.is_set():
            log.info("stopping: no new claims; finishing the batch in flight")
        self._stop.set()

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    def digest_trigger(self) -> CronTrigger | None:
        if self.jobs.digest is None:
            return None
        return weekly_trigger(self.settings.digest_time, self.settings.tz)

    # ----- waking -----------------------------------------------------------------------------

    def _changed(self) -> None:
        """Another process committed a change: read the due times again."""
        self._wake_all()

    def _wake_all(self) -> None:
        self._deliver.event.set()
        self._advance.event.set()
        self._render.event.set()

    async def _poll(self) -> None:
        self._wake_all()

    def _arm(self, wake: Wake, when: datetime | None) -> None:
        if self._stop.is_set():
            return
        if when is None:
            self.timer.cancel(wake.job_id)
        else:
            self.timer.wake_at(wake.job_id, when, wake.event)

    @property
    def _tz(self) -> ZoneInfo:
        return self.settings.tz
