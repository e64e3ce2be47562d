"""intake validations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:09:02.030138
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('validations',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_validations'))
    )
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision_sha256', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_column('revision_sha256')

    op.drop_table('validations')
