"""the hierarchy witnesses itself: a parent's docflow keeps the signed tree heads of its child
units' logs, checked for consistency as they arrive

audit_witness_logs names the child logs (by the SHA-256 of their key) and their keys;
audit_witnessed keeps every head received, with the verdict, and is append-only.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-22 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_witness_logs',
        sa.Column('log_id', sa.LargeBinary(), nullable=False),
        sa.Column('unit_code', sa.String(length=13), nullable=False),
        sa.Column('public_key', sa.Text(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('log_id', name=op.f('pk_audit_witness_logs')))
    op.create_table(
        'audit_witnessed',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('log_id', sa.LargeBinary(), nullable=False),
        sa.Column('tree_size', sa.BigInteger(), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.Column('root', sa.LargeBinary(), nullable=False),
        sa.Column('signature', sa.LargeBinary(), nullable=False),
        sa.Column('tsa_token', sa.LargeBinary(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('verdict', sa.String(length=16), nullable=False),
        sa.CheckConstraint("verdict in ('consistent','forked','rolled_back')",
                           name=op.f('ck_audit_witnessed_verdict')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_witnessed')))
    op.create_index(op.f('ix_audit_witnessed_log_id_id'), 'audit_witnessed',
                    ['log_id', 'id'])
    message = "audit_witnessed is append-only: rows are never changed or removed"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_witnessed_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{message}' USING ERRCODE = 'insufficient_privilege';
            END $$""")
        op.execute("""
            CREATE TRIGGER audit_witnessed_no_change BEFORE UPDATE OR DELETE ON audit_witnessed
            FOR EACH ROW EXECUTE FUNCTION audit_witnessed_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_witnessed_no_{event.lower()} BEFORE {event}
                ON audit_witnessed BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_witnessed_no_change ON audit_witnessed")
        op.execute("DROP FUNCTION audit_witnessed_append_only()")
    op.drop_index(op.f('ix_audit_witnessed_log_id_id'), table_name='audit_witnessed')
    op.drop_table('audit_witnessed')
    op.drop_table('audit_witness_logs')
