"""outbox: index the pending rows by next_attempt_at (the daemon's due column)

The daemon's queries (``tx.outbox.claim_due``, ``next_due``, ``late_pending``) filter on
``state = 'pending'`` and ``next_attempt_at``; ``ix_outbox_due`` indexes ``due_at``, so with
many pending rows every one of them was a scan of the whole pending set.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_next', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_next')
