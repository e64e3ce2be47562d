"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:36:29.898004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('unit_code', sa.String(length=13), nullable=True),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('client_addr', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_actor_id_id', ['actor_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_document_id_id', ['document_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_object_type_object_id_id', ['object_type', 'object_id', 'id'], unique=False)

    op.create_table('levels',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_levels'))
    )
    op.create_table('users',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('user_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('digest', name=op.f('uq_api_tokens_digest'))
    )
    op.create_table('units',
    sa.Column('code', sa.String(length=13), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('abbreviation', sa.String(length=20), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('parent_code', sa.String(length=13), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('successor_code', sa.String(length=13), nullable=True),
    sa.ForeignKeyConstraint(['level'], ['levels.code'], name=op.f('fk_units_level_levels')),
    sa.ForeignKeyConstraint(['parent_code'], ['units.code'], name=op.f('fk_units_parent_code_units')),
    sa.ForeignKeyConstraint(['successor_code'], ['units.code'], name=op.f('fk_units_successor_code_units')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_units'))
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index('ix_units_level_path', ['level', 'path'], unique=False, postgresql_ops={'path': 'varchar_pattern_ops'})
        batch_op.create_index('ix_units_parent_code', ['parent_code'], unique=False)
        batch_op.create_index('ix_units_path', ['path'], unique=False, postgresql_ops={'path': 'varchar_pattern_ops'})

    op.create_table('documents',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('created_by', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('doc_type', sa.String(length=8), nullable=False),
    sa.Column('abstract', sa.Text(), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('confidentiality', sa.String(length=16), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('reply_due', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('symbol', sa.String(length=64), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_year', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_documents_created_by_users')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_documents_unit_code_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('unit_code', 'issued_year', 'number', name=op.f('uq_documents_unit_code_issued_year_number'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_unit_code_updated_at', ['unit_code', 'updated_at'], unique=False)

    op.create_table('memberships',
    sa.Column('user_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.CheckConstraint("role in ('clerk','officer','leader','auditor','admin')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_memberships_unit_code_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'unit_code', 'role', name=op.f('pk_memberships'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index('ix_memberships_unit_code_role', ['unit_code', 'role'], unique=False)

    op.create_table('receipts',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('dispatch_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('arrival_number', sa.Integer(), nullable=True),
    sa.Column('arrival_year', sa.Integer(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_by', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.Uuid(as_uuid=False), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['completed_by'], ['users.id'], name=op.f('fk_receipts_completed_by_users')),
    sa.ForeignKeyConstraint(['registered_by'], ['users.id'], name=op.f('fk_receipts_registered_by_users')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_receipts_unit_code_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('document_id', 'unit_code', name=op.f('uq_receipts_document_id_unit_code'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index('ix_receipts_unit_code_delivered_at', ['unit_code', 'delivered_at'], unique=False)
        batch_op.create_index('uq_receipts_arrival', ['unit_code', 'arrival_year', 'arrival_number'], unique=True, postgresql_where=sa.text('arrival_number IS NOT NULL'), sqlite_where=sa.text('arrival_number IS NOT NULL'))

    op.create_table('sequences',
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('register', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_sequences_unit_code_units')),
    sa.PrimaryKeyConstraint('unit_code', 'register', 'period', name=op.f('pk_sequences'))
    )
    op.create_table('dispatches',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('created_by', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_dispatches_created_by_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_dispatches_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatches'))
    )
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.create_index('ix_dispatches_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('revisions',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('document_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Uuid(as_uuid=False), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_revisions_created_by_users')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_revisions_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revisions')),
    sa.UniqueConstraint('document_id', 'kind', 'seq', name=op.f('uq_revisions_document_id_kind_seq'))
    )
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.create_index('ix_revisions_sha256', ['sha256'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('revisions', schema=None) as batch_op:
        batch_op.drop_index('ix_revisions_sha256')

    op.drop_table('revisions')
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_index('ix_dispatches_status_created_at')

    op.drop_table('dispatches')
    op.drop_table('sequences')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index('uq_receipts_arrival', postgresql_where=sa.text('arrival_number IS NOT NULL'), sqlite_where=sa.text('arrival_number IS NOT NULL'))
        batch_op.drop_index('ix_receipts_unit_code_delivered_at')

    op.drop_table('receipts')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index('ix_memberships_unit_code_role')

    op.drop_table('memberships')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_unit_code_updated_at')

    op.drop_table('documents')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index('ix_units_path', postgresql_ops={'path': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_units_parent_code')
        batch_op.drop_index('ix_units_level_path', postgresql_ops={'path': 'varchar_pattern_ops'})

    op.drop_table('units')
    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('levels')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_object_type_object_id_id')
        batch_op.drop_index('ix_audit_events_document_id_id')
        batch_op.drop_index('ix_audit_events_actor_id_id')

    op.drop_table('audit_events')
