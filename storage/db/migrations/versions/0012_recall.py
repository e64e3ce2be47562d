"""recall: a document asked back by its sender, each copy's answer

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recalled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recall_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recall', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('recall_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('recall_reason')
        batch_op.drop_column('recall')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('recall_reason')
        batch_op.drop_column('recalled_at')
