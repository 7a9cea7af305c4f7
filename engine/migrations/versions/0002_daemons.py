"""daemons: heartbeats and leadership of running ``fbh serve`` processes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('daemons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_leader', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('daemons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_daemons_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('daemons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_daemons_seen_at'))

    op.drop_table('daemons')
