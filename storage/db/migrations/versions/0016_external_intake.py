"""documents received from outside docflow, and what duplicate warnings compare

documents.channel says how a document reached docflow (docflow, paper, email, system);
issuer_name and issuer_code hold an external issuer as typed; identifier is edXML's
``OrganId,yyyy/MM/dd,Number/Notation``; issuer_key is what "same issuer" compares (a unit's
code, an external issuer's code, or its folded name). Issued documents get their identifier
here (dates in Vietnam time, the default zone).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 05:15:00
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=8), nullable=False,
                                      server_default='docflow'))
        batch_op.add_column(sa.Column('issuer_name', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('issuer_code', sa.String(length=13), nullable=True))
        batch_op.add_column(sa.Column('issuer_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('identifier', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_documents_identifier'), ['identifier'])
        batch_op.create_index(batch_op.f('ix_documents_issuer_key'), ['issuer_key'])
    documents = sa.table('documents', sa.column('id', sa.Uuid(as_uuid=False)),
                         sa.column('unit_code', sa.String()), sa.column('symbol', sa.String()),
                         sa.column('issued_at', sa.DateTime(timezone=True)),
                         sa.column('identifier', sa.String()),
                         sa.column('issuer_key', sa.String()))
    conn = op.get_bind()
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    # Documents numbered before issued_at was kept have no date to build an identifier from.
    rows = conn.execute(sa.select(documents.c.id, documents.c.unit_code, documents.c.symbol,
                                  documents.c.issued_at)
                        .where(documents.c.symbol.is_not(None),
                               documents.c.issued_at.is_not(None))).all()
    for row in rows:
        issued = row.issued_at
        if issued.tzinfo is None:  # SQLite keeps naive UTC
            issued = issued.replace(tzinfo=ZoneInfo("UTC"))
        conn.execute(documents.update().where(documents.c.id == row.id).values(
            identifier=f"{row.unit_code},{issued.astimezone(zone):%Y/%m/%d},{row.symbol}",
            issuer_key=row.unit_code))
    conn.execute(documents.update().where(documents.c.issuer_key.is_(None))
                 .values(issuer_key=documents.c.unit_code))


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_issuer_key'))
        batch_op.drop_index(batch_op.f('ix_documents_identifier'))
        batch_op.drop_column('identifier')
        batch_op.drop_column('issuer_key')
        batch_op.drop_column('issuer_code')
        batch_op.drop_column('issuer_name')
        batch_op.drop_column('channel')
