"""signing batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 00:18:18.179020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_batches',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('actor_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_signing_batches_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_batches'))
    )
    op.create_table('signing_batch_items',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('batch_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('session_id', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('signature_value', sa.LargeBinary(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['signing_batches.id'], name=op.f('fk_signing_batch_items_batch_id_signing_batches')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_signing_batch_items_document_id_documents')),
    sa.ForeignKeyConstraint(['session_id'], ['signing_sessions.id'], name=op.f('fk_signing_batch_items_session_id_signing_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_batch_items'))
    )
    with op.batch_alter_table('signing_batch_items', schema=None) as batch_op:
        batch_op.create_index('ix_signing_batch_items_batch_id', ['batch_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('signing_batch_items', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_batch_items_batch_id')

    op.drop_table('signing_batch_items')
    op.drop_table('signing_batches')
