"""page_tokens, page_secret: the tovholder's private page (/p/{token})

Tokens are stored as their SHA-256 only. page_secret holds one random key per installation
that signs the page's CSRF tokens (FBH_PAGE_SECRET in the environment overrides it).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import engine.store.types


revision: str = '0008'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('page_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', engine.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('page_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_tokens_programme_id'), ['programme_id'], unique=False)

    secret = op.create_table('page_secret',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(secret, [{
        'id': 1, 'secret': secrets.token_hex(32), 'created_at': datetime.now(UTC),
    }])


def downgrade() -> None:
    op.drop_table('page_secret')
    with op.batch_alter_table('page_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_tokens_programme_id'))

    op.drop_table('page_tokens')
