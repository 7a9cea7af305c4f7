"""outbox: the due indexes hold only pending rows (partial indexes)

``ix_outbox_due (state, due_at)`` and ``ix_outbox_next (state, next_attempt_at)`` held every
row, so each state change (claimed, then sent) moved the row within both: four index writes
per message besides the row. Only pending rows are looked up by their due times (the claim,
``next_due``, ``late_pending``, ``to_render``, the backlog metric), so the new indexes hold
only those: claiming a row takes it out of each once, and recording it touches neither.
Queries reach them with the literal predicate ``state = 'pending'``
(engine/store/outbox_pending.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "state = 'pending'"


def upgrade() -> None:
    # Not batch mode: on SQLite that copies the table; indexes need no copy.
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_index('ix_outbox_next', table_name='outbox')
    op.create_index(
        'ix_outbox_pending_due',
        'outbox',
        ['due_at'],
        unique=False,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    op.create_index(
        'ix_outbox_pending_next',
        'outbox',
        ['next_attempt_at', 'id'],
        unique=False,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index('ix_outbox_pending_next', table_name='outbox')
    op.drop_index('ix_outbox_pending_due', table_name='outbox')
    op.create_index('ix_outbox_due', 'outbox', ['state', 'due_at'], unique=False)
    op.create_index('ix_outbox_next', 'outbox', ['state', 'next_attempt_at'], unique=False)
