"""delegations of signing authority (KT., Q., TL., TUQ.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delegations',
    sa.Column('id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('unit_code', sa.String(length=13), nullable=False),
    sa.Column('grantor_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('grantee_id', sa.Uuid(as_uuid=False), nullable=False),
    sa.Column('authority', sa.String(length=8), nullable=False),
    sa.Column('doc_types', sa.JSON(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['grantee_id'], ['users.id'], name=op.f('fk_delegations_grantee_id_users')),
    sa.ForeignKeyConstraint(['grantor_id'], ['users.id'], name=op.f('fk_delegations_grantor_id_users')),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], name=op.f('fk_delegations_unit_code_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegations'))
    )
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.create_index('ix_delegations_grantee_id_unit_code', ['grantee_id', 'unit_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.drop_index('ix_delegations_grantee_id_unit_code')
    op.drop_table('delegations')
