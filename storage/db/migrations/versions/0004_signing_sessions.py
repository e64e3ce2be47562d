"""signing sessions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:14:02.194508
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_sessions',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('actor_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('base_revision_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('prepared_sha256', sa.String(length=64), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('authority', sa.String(length=8), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_signing_sessions_actor_id_users')),
    sa.ForeignKeyConstraint(['base_revision_id'], ['revisions.id'], name=op.f('fk_signing_sessions_base_revision_id_revisions')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_signing_sessions_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_sessions'))
    )


def downgrade() -> None:
    op.drop_table('signing_sessions')
