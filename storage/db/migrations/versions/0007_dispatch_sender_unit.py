"""dispatches.sender_unit: the recipient unit that forwarded a document down (cascade)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 01:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_unit', sa.String(length=13), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_dispatches_sender_unit_units'), 'units',
                                    ['sender_unit'], ['code'])


def downgrade() -> None:
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_dispatches_sender_unit_units'),
                                 type_='foreignkey')
        batch_op.drop_column('sender_unit')
