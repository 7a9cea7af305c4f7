"""programmes: the due time of the first maintenance check-in not queued yet (issue 15)

Check-in mail is queued only ``mail.queue_ahead_days`` ahead, as reminders are (0011); the
rest is queued later by the top-up (``engine/services/horizon.py``), from ``checkins_from`` on.
NULL means nothing is left to queue: true of every row written before this revision, whose
check-ins were all queued when the programme was created.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not batch mode: on SQLite that copies the table, and rows of other tables refer to it.
    op.add_column(
        'programmes',
        sa.Column('checkins_from', engine.store.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_programmes_checkins_from', 'programmes', ['checkins_from'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_programmes_checkins_from', table_name='programmes')
    op.drop_column('programmes', 'checkins_from')  # SQLite 3.35 or later
