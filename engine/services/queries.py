"""Reading programmes: one, all of them, and a programme's event log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.domain.views import ProgrammeView
from engine.services.context import ServiceContext


class ProgrammeQueries:
    """Views of programmes, each read in one transaction."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def show(self, programme_id: int) -> ProgrammeView:
        return self.ctx.show(programme_id)

    def list_programmes(self, *, states: Sequence[str] | None = None) -> list[ProgrammeView]:
        with self.ctx.store.transaction() as tx:
            return [self.ctx.view(tx, p) for p in tx.programmes.find(states=states)]

    def events(self, programme_id: int) -> list[dict[str, Any]]:
        with self.ctx.store.transaction() as tx:
            tx.programmes.get(programme_id)
            return [
                {
                    "at": e.at.astimezone(self.ctx.tz).isoformat(),  # local, with offset
                    "actor": e.actor,
                    "entity": e.entity,
                    "entity_id": e.entity_id,
                    "event": e.event,
                    "from": e.from_state,
                    "to": e.to_state,
                    "data": e.data,
                }
                for e in tx.events.find(programme_id=programme_id)
            ]
