"""Programme views for the read commands without the full store (docs/benchmarks.md).

:func:`list_programmes` and :func:`show_programme` give what ``Fbh.list_programmes`` and
``Fbh.show`` give, read through the lean
SQLite reader (:mod:`engine.store.reads`), and None when that reader cannot answer (then the
caller opens the full ``Fbh`` read-only, which refuses a missing database or a schema that
is not the newest, and never migrates). It loads no workflow
definitions from disk and neither SQLAlchemy nor the table models: only the titles of the
programmes' own snapshots are parsed, as :class:`~engine.services.context.ServiceContext`
does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from zoneinfo import ZoneInfo

from engine.domain.definitions import parse_definition
from engine.domain.errors import NotFoundError
from engine.domain.model import Contact, MilestoneKind
from engine.domain.planning import PlannedMilestone
from engine.domain.views import AttendeeView, MilestoneView, ProgrammeView
from engine.store.reads import MilestoneRow, ProgrammeRow, ReadError, open_sqlite

__all__ = ["list_programmes", "show_programme"]


@lru_cache(maxsize=64)
def _title(key: str, text: str) -> str:
    return parse_definition(text, f"snapshot:{key}").title


def list_programmes(
    database_url: str, tz: ZoneInfo, *, states: Sequence[str] | None = None
) -> list[ProgrammeView] | None:
    """Every programme (of ``states``) as ``Fbh.list_programmes`` views it; None: ask the
    full store."""
    reader = open_sqlite(database_url)
    if reader is None:
        return None
    try:
        programmes = reader.programmes(states)
        milestones = reader.milestones([p.id for p in programmes])
    except ReadError:
        return None
    finally:
        reader.close()
    return [_view(p, milestones[p.id], tz) for p in programmes]


def show_programme(database_url: str, tz: ZoneInfo, programme_id: int) -> ProgrammeView | None:
    """The programme with its attendees' answers, as ``Fbh.show`` views it; None: ask the
    full store. An unknown id raises ``NotFoundError`` as there."""
    reader = open_sqlite(database_url)
    if reader is None:
        return None
    try:
        row = reader.programme(programme_id)
        if row is None:
            raise NotFoundError("programme", programme_id)
        milestones = reader.milestones([programme_id])[programme_id]
        invited = reader.attendees(milestones)
        participants = reader.participant_names(programme_id) if invited else {}
    except ReadError:
        return None
    finally:
        reader.close()
    roles = {email: (name, "participant") for email, name in participants.items()}
    roles[row.tovholder[1]] = (row.tovholder[0], "tovholder")
    roles[row.consultant[1]] = (row.consultant[0], "consultant")
    attendees = {
        ident: tuple(
            AttendeeView(
                name=roles.get(email, (email, ""))[0],
                email=email,
                role=roles.get(email, ("", "participant"))[1],
                partstat=partstat,
            )
            for email, partstat in found
        )
        for ident, found in invited.items()
    }
    return _view(row, milestones, tz, attendees)


def _view(
    row: ProgrammeRow,
    milestones: list[MilestoneRow],
    tz: ZoneInfo,
    attendees: dict[int, tuple[AttendeeView, ...]] | None = None,
) -> ProgrammeView:
    return ProgrammeView(
        id=row.id,
        workflow=row.workflow,
        workflow_title=_title(row.workflow, row.workflow_snapshot[row.workflow]),
        version=row.workflow_version,
        extensions=row.extensions,
        organisation=row.organisation,
        municipality=row.municipality,
        consultant=Contact(*row.consultant),
        tovholder=Contact(*row.tovholder),
        start=row.start_date,
        end=row.end_date,
        state=row.state,
        milestones=tuple(
            MilestoneView(
                m.id, _planned(m, tz), m.state, m.sequence, (attendees or {}).get(m.id, ())
            )
            for m in milestones
        ),
    )


def _planned(row: MilestoneRow, tz: ZoneInfo) -> PlannedMilestone:
    """As ``ServiceContext.planned``: the stored milestone, its times in local time."""
    return PlannedMilestone(
        workflow=row.workflow,
        key=row.key,
        title=row.title,
        kind=MilestoneKind(row.kind),
        weeks=(row.week_first, row.week_last),
        window_start=row.window_start,
        window_end=row.window_end,
        start=row.start_at.astimezone(tz) if row.start_at else None,
        end=row.end_at.astimezone(tz) if row.end_at else None,
    )
