"""outgoing v2: the flow (or an organisation's variant) a document runs; numbers given back

documents.workflow names the definition (``outgoing`` or a variant of it) the document runs at
workflow_version. A number cancelled before issue goes to released_numbers and is given to
the next issue of the same sequence; sequences.released counts them, so the common case
stays one UPDATE.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workflow', sa.String(length=64), nullable=False,
                                      server_default='outgoing'))
    with op.batch_alter_table('sequences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('released', sa.Integer(), nullable=False,
                                      server_default='0'))
    op.create_table(
        'released_numbers',
        sa.Column('unit_code', sa.String(length=13), nullable=False),
        sa.Column('register', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=32), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
        sa.ForeignKeyConstraint(['document_id'], ['documents.id'],
                                name=op.f('fk_released_numbers_document_id_documents')),
        sa.PrimaryKeyConstraint('unit_code', 'register', 'period', 'number',
                                name=op.f('pk_released_numbers')),
    )


def downgrade() -> None:
    op.drop_table('released_numbers')
    with op.batch_alter_table('sequences', schema=None) as batch_op:
        batch_op.drop_column('released')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('workflow')
