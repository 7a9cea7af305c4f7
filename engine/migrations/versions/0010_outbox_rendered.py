"""outbox: the rendered message kept with its row (render ahead, issue 15)

``rendered`` holds the wire bytes of the message, rendered ahead of its due time by the
daemon (or when queued, for mail due at once); ``rendered_with`` the fingerprint of what
rendered them (fbh's version, its templates and rendering code, the sender). At due time the
outbox worker sends the stored bytes (with a fresh ``Date``) when the fingerprint is still
the current one, and renders the row as before otherwise. Both columns are NULL for rows that
were never rendered ahead, so an older row is still rendered at send.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rendered', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('rendered_with', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('rendered_with')
        batch_op.drop_column('rendered')
