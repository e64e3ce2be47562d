"""register search: documents.search_text and units.search_name, folded (no diacritics)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from docflow.domain.search import fold
from storage.db.repositories import document_search_text

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_name', sa.Text(), server_default='', nullable=False))
    conn = op.get_bind()
    documents = sa.table('documents', sa.column('id'), sa.column('doc_type'), sa.column('symbol'),
                         sa.column('abstract'), sa.column('search_text'))
    for row in conn.execute(sa.select(documents.c.id, documents.c.doc_type, documents.c.symbol,
                                      documents.c.abstract)).all():
        conn.execute(documents.update().where(documents.c.id == row.id).values(
            search_text=document_search_text(row.doc_type, row.symbol, row.abstract)))
    units = sa.table('units', sa.column('code'), sa.column('name'), sa.column('abbreviation'),
                     sa.column('search_name'))
    for unit in conn.execute(sa.select(units.c.code, units.c.name, units.c.abbreviation)).all():
        conn.execute(units.update().where(units.c.code == unit.code).values(
            search_name=fold(f"{unit.name} {unit.abbreviation} {unit.code}")))


def downgrade() -> None:
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('search_name')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('search_text')
