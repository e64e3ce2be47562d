"""consultations.quorum: how many answers complete a consultation (none: everyone asked)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 03:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quorum', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.drop_column('quorum')
