"""milestones: the due time of the first reminder or task notice not queued yet (issue 15)

Timed mail (reminders and task notices) is queued only ``mail.queue_ahead_days`` ahead; the
rest is queued later by the top-up (``engine/services/horizon.py``), from ``timed_from`` on.
NULL means nothing is left to queue: true of every row written before this revision, whose
timed mail was all queued when the milestone was planned.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not batch mode: on SQLite that copies the table, and rows of other tables refer to it.
    op.add_column(
        'milestones',
        sa.Column('timed_from', engine.store.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_milestones_timed_from', 'milestones', ['timed_from'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_milestones_timed_from', table_name='milestones')
    op.drop_column('milestones', 'timed_from')  # SQLite 3.35 or later
