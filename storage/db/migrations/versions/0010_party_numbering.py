"""numbering by period (a year, or a Party committee's term), Party units, committee terms,
the drafting department of a document

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('committee_terms',
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_committee_terms_unit_code_units')),
    sa.PrimaryKeyConstraint('unit_code', 'code', name=op.f('pk_committee_terms'))
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family', sa.String(length=8), server_default='state', nullable=False))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number_period', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('department', sa.String(length=10), nullable=True))
    documents = sa.table('documents', sa.column('issued_year', sa.Integer),
                         sa.column('number_period', sa.String))
    op.execute(documents.update().where(documents.c.issued_year.is_not(None))
               .values(number_period=sa.cast(documents.c.issued_year, sa.String)))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_documents_unit_code_issued_year_number'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_documents_unit_code_number_period_number'), ['unit_code', 'number_period', 'number'])


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_documents_unit_code_number_period_number'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_documents_unit_code_issued_year_number'), ['unit_code', 'issued_year', 'number'])
        batch_op.drop_column('department')
        batch_op.drop_column('number_period')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('family')
    op.drop_table('committee_terms')
