"""sub-units in an assignment; a deadline carried by a dispatch down to its entries; units by
successor (each actor's roles reach the units merged into theirs, on every request)

assignments.units lists the sub-units a leader named, each as coordinator or informed;
dispatches.deadline is the handling deadline their entries start with (a coordinating
sub-unit's copy is due when the assignment is).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-22 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('units', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline', sa.Date(), nullable=True))
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_units_successor_code'), ['successor_code'])


def downgrade() -> None:
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_units_successor_code'))
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_column('deadline')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('units')
