"""replacing and updating issued documents

documents.replaces_id names the issued document a new one supersedes (set when drafting);
replaced_by_id and replaced_at are set on the old one when the new one is issued.
document_updates keeps each update of an issued document (what changed, why, by whom).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22 04:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaces_id', sa.Uuid(as_uuid=False), nullable=True))
        batch_op.add_column(sa.Column('replaced_by_id', sa.Uuid(as_uuid=False), nullable=True))
        batch_op.add_column(sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'document_updates',
        sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
        sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('by', sa.Uuid(as_uuid=False), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['by'], ['users.id'], name=op.f('fk_document_updates_by_users')),
        sa.ForeignKeyConstraint(['document_id'], ['documents.id'],
                                name=op.f('fk_document_updates_document_id_documents')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_document_updates')),
    )
    with op.batch_alter_table('document_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_updates_document_id'), ['document_id'])


def downgrade() -> None:
    op.drop_table('document_updates')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('replaced_at')
        batch_op.drop_column('replaced_by_id')
        batch_op.drop_column('replaces_id')
