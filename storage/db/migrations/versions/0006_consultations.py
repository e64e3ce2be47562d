"""consultations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consultations',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('asked_by', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('participants', sa.JSON(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('conclusion', sa.Text(), nullable=True),
    sa.Column('concluded_by', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('concluded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['asked_by'], ['users.id'], name=op.f('fk_consultations_asked_by_users')),
    sa.ForeignKeyConstraint(['concluded_by'], ['users.id'], name=op.f('fk_consultations_concluded_by_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_consultations_document_id_documents')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_consultations_unit_code_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultations'))
    )
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.create_index('ix_consultations_document_id', ['document_id'], unique=False)

    op.create_table('consultation_opinions',
    sa.Column('consultation_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('user_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_opinions_consultation_id_consultations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consultation_opinions_user_id_users')),
    sa.PrimaryKeyConstraint('consultation_id', 'user_id', name=op.f('pk_consultation_opinions'))
    )


def downgrade() -> None:
    op.drop_table('consultation_opinions')
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.drop_index('ix_consultations_document_id')

    op.drop_table('consultations')
