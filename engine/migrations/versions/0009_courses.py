"""courses, course_registrations, checkins: the BASIS course calendar and the check-ins closed
after a programme (docs/courses.md)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.store.types


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('courses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('city', sa.String(length=40), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('venue_email', sa.String(length=254), nullable=True),
    sa.Column('start_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('minimum', sa.Integer(), nullable=True),
    sa.Column('decide_by', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_courses_start_at'), ['start_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_courses_state'), ['state'], unique=False)

    op.create_table('course_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=32), nullable=False),
    sa.Column('created_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('course_id', 'email')
    )
    with op.batch_alter_table('course_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_registrations_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_course_registrations_email'), ['email'], unique=False)

    op.create_table('checkins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('updated_at', engine.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('programme_id', 'months')
    )
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkins_programme_id'), ['programme_id'], unique=False)




def downgrade() -> None:
    
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkins_programme_id'))

    op.drop_table('checkins')
    with op.batch_alter_table('course_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_registrations_email'))
        batch_op.drop_index(batch_op.f('ix_course_registrations_course_id'))

    op.drop_table('course_registrations')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_courses_state'))
        batch_op.drop_index(batch_op.f('ix_courses_start_at'))

    op.drop_table('courses')

