"""The render-ahead loop: render pending mail due within ``[daemon] render_ahead_seconds`` and
keep its bytes in the outbox row (notifications/prerender.py), so that at due time the
delivery loop only claims rows and writes or sends their bytes.

It runs in every daemon that delivers, at start, whenever the outbox changes (the same
wake-ups as delivery) and at least every ``poll_seconds`` (or a quarter of the horizon, if
that is shorter). It renders rows not yet due, soonest first, a batch at a time: the batch is
read and stored in short transactions on the event loop, and rendered in a worker thread, so a
delivery that falls due meanwhile is not held up by a whole batch. Rows already due are left
to the delivery loop, which renders a row without current bytes at send, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from engine.daemon.core import DaemonCore
from engine.domain.errors import FbhError
from notifications.prerender import pending_batch, render_batch, store_batch

log = logging.getLogger(__name__)


class RenderAhead(DaemonCore):
    async def _render_loop(self) -> None:
        horizon = self.options.render_ahead_seconds
        if horizon <= 0:
            return
        interval = max(1.0, min(self.options.poll_seconds, horizon / 4))
        while not self._stop.is_set():
            self._render.event.clear()
            if self.options.deliver != "leader" or self.is_leader:
                try:
                    await self.render_pass()
                except FbhError as exc:
                    log.warning("render-ahead pass failed: %s; retrying later", exc)
                except Exception:
                    log.exception("render-ahead pass failed unexpectedly; retrying later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._render.event.wait(), timeout=interval)

    async def render_pass(self) -> int:
        """Render every pending row due within the horizon that has no current bytes;
        returns how many rows took bytes."""
        now = self.clock()
        before = now + timedelta(seconds=self.options.render_ahead_seconds)
        stored = 0
        while not self._stop.is_set():
            rows = pending_batch(self.fbh.store, self.settings, before, after=self.clock())
            if not rows:
                break
            results = await asyncio.to_thread(render_batch, rows, self.settings, self.clock())
            taken = store_batch(self.fbh.store, self.settings, results)
            stored += taken
            if not taken:
                break  # every row changed meanwhile: the next pass reads them again
        if stored:
            log.info("rendered %d message(s) ahead of their due time", stored)
        return stored
