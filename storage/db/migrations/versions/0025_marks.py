"""each person's signature image and each unit's seal image (issue 6, admin): the blob's sha256

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature_image', sa.String(length=64), nullable=True))
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_image', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('seal_image')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('signature_image')
