"""signatures

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:59:56.923923
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signatures',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('revision_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('signed_sha256', sa.String(length=64), nullable=False),
    sa.Column('result_sha256', sa.String(length=64), nullable=False),
    sa.Column('signer_subject', sa.String(length=400), nullable=False),
    sa.Column('certificate_sha256', sa.String(length=64), nullable=False),
    sa.Column('certificate_der', sa.LargeBinary(), nullable=False),
    sa.Column('authority', sa.String(length=8), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_signatures_actor_id_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_signatures_document_id_documents')),
    sa.ForeignKeyConstraint(['revision_id'], ['revisions.id'], name=op.f('fk_signatures_revision_id_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signatures')),
    sa.UniqueConstraint('revision_id', name=op.f('uq_signatures_revision_id'))
    )
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index('ix_signatures_document_id_signed_at', ['document_id', 'signed_at'], unique=False)

    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Uuid(as_uuid=False), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_revisions_parent_id_revisions'), 'revisions', ['parent_id'], ['id'])



def downgrade() -> None:
    # signatures first: it refers to revisions, which SQLite's batch mode rebuilds.
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_signatures_document_id_signed_at')

    op.drop_table('signatures')

    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_revisions_parent_id_revisions'), type_='foreignkey')
        batch_op.drop_column('parent_id')
