"""report requests and the asked units' submissions

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_requests',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_report_requests_created_by_users')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_report_requests_unit_code_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_requests'))
    )
    with op.batch_alter_table('report_requests', schema=None) as batch_op:
        batch_op.create_index('ix_report_requests_unit_code', ['unit_code'], unique=False)

    op.create_table('report_submissions',
    sa.Column('request_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('submitted_by', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('late', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_report_submissions_document_id_documents')),
    sa.ForeignKeyConstraint(['request_id'], ['report_requests.id'], name=op.f('fk_report_submissions_request_id_report_requests')),
    sa.ForeignKeyConstraint(['submitted_by'], ['users.id'], name=op.f('fk_report_submissions_submitted_by_users')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_report_submissions_unit_code_units')),
    sa.PrimaryKeyConstraint('request_id', 'unit_code', name=op.f('pk_report_submissions'))
    )
    with op.batch_alter_table('report_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_report_submissions_unit_code', ['unit_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_report_submissions_unit_code')
    op.drop_table('report_submissions')
    with op.batch_alter_table('report_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_report_requests_unit_code')
    op.drop_table('report_requests')
