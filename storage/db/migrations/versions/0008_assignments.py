"""incoming entries: assignment (annotation, lead, coordinators, informed, deadline), progress
notes, the flow's version per entry, the result document

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assignments',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('receipt_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('annotation', sa.Text(), nullable=False),
    sa.Column('lead_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('coordinators', sa.JSON(), nullable=False),
    sa.Column('informed', sa.JSON(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('assigned_by', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assigned_by'], ['users.id'], name=op.f('fk_assignments_assigned_by_users')),
    sa.ForeignKeyConstraint(['lead_id'], ['users.id'], name=op.f('fk_assignments_lead_id_users')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], name=op.f('fk_assignments_receipt_id_receipts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_lead_id', ['lead_id'], unique=False)
        batch_op.create_index('ix_assignments_receipt_id', ['receipt_id'], unique=False)

    op.create_table('progress_notes',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('receipt_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('author_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_progress_notes_author_id_users')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], name=op.f('fk_progress_notes_receipt_id_receipts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_notes'))
    )
    with op.batch_alter_table('progress_notes', schema=None) as batch_op:
        batch_op.create_index('ix_progress_notes_receipt_id', ['receipt_id'], unique=False)

    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workflow_version', sa.Integer(), server_default=sa.text('1'), nullable=False))
        batch_op.add_column(sa.Column('deadline', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('result_document_id', sa.Uuid(as_uuid=False), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('result_document_id')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('deadline')
        batch_op.drop_column('workflow_version')

    with op.batch_alter_table('progress_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_notes_receipt_id')

    op.drop_table('progress_notes')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_receipt_id')
        batch_op.drop_index('ix_assignments_lead_id')

    op.drop_table('assignments')
