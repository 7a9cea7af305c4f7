"""inbound mail: installation id, inbox ledger, meeting answers, bounces, e-mailed requests

The installation row gets a random id here, once; programmes that exist already are recorded
as legacy, so their meetings keep the UIDs calendars know them by.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import engine.store.types


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = engine.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    installation = op.create_table('installation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.String(length=32), nullable=False),
    sa.Column('legacy_max_programme_id', sa.Integer(), nullable=False),
    sa.Column('created_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_table('inbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=300), nullable=False),
    sa.Column('source_key', sa.String(length=300), nullable=False),
    sa.Column('received', _UTC, nullable=False),
    sa.Column('sender', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('processed_at', _UTC, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id'),
    )
    with op.batch_alter_table('inbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_messages_received'), ['received'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_messages_state'), ['state'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_inbox_messages_programme_id'), ['programme_id'], unique=False
        )
    op.create_table('meeting_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('partstat', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('start_at', _UTC, nullable=True),
    sa.Column('proposed_start', _UTC, nullable=True),
    sa.Column('answered_at', _UTC, nullable=False),
    sa.Column('message_id', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestones.id'], ),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('milestone_id', 'email'),
    )
    with op.batch_alter_table('meeting_answers', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_meeting_answers_programme_id'), ['programme_id'], unique=False
        )
    op.create_table('bounces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('bounced_message_id', sa.String(length=300), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('programme_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=200), nullable=False),
    sa.Column('at', _UTC, nullable=False),
    sa.Column('report_message_id', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email', 'bounced_message_id'),
    )
    with op.batch_alter_table('bounces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bounces_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_bounces_programme_id'), ['programme_id'], unique=False)
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_at', _UTC, nullable=True))
        batch_op.add_column(sa.Column('text', sa.Text(), nullable=True))

    largest = op.get_bind().execute(sa.text('SELECT MAX(id) FROM programmes')).scalar()
    op.bulk_insert(installation, [{
        'id': 1,
        'installation_id': secrets.token_hex(8),
        'legacy_max_programme_id': int(largest or 0),
        'created_at': datetime.now(UTC),
    }])


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('text')
        batch_op.drop_column('received_at')
    with op.batch_alter_table('bounces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bounces_programme_id'))
        batch_op.drop_index(batch_op.f('ix_bounces_email'))
    op.drop_table('bounces')
    with op.batch_alter_table('meeting_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_answers_programme_id'))
    op.drop_table('meeting_answers')
    with op.batch_alter_table('inbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_messages_programme_id'))
        batch_op.drop_index(batch_op.f('ix_inbox_messages_state'))
        batch_op.drop_index(batch_op.f('ix_inbox_messages_received'))
    op.drop_table('inbox_messages')
    op.drop_table('installation')
