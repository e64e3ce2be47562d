"""documents.number_register: the sequence a number came from, in the uniqueness

Party committees number each type separately within a term (01-NQ/TU and 01-CT/TU both
exist), so a number is unique per (issuer, register, period), not per (issuer, period).
Numbered documents so far came from the one ``outgoing`` register.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number_register', sa.String(length=40), nullable=True))
    documents = sa.table('documents', sa.column('number_register', sa.String()),
                         sa.column('number_period', sa.String()))
    op.execute(documents.update().where(documents.c.number_period.is_not(None))
               .values(number_register='outgoing'))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_documents_unit_code_number_period_number'),
                                 type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_documents_unit_code_number_register_number_period_number'),
            ['unit_code', 'number_register', 'number_period', 'number'])


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('uq_documents_unit_code_number_register_number_period_number'),
            type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_documents_unit_code_number_period_number'),
                                          ['unit_code', 'number_period', 'number'])
        batch_op.drop_column('number_register')
