"""failed logins by client address, for the per-address login limit: a partial index

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

_WHERE = sa.text("action = 'user.login_failed'")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The log is the largest table: built without holding its writers up.
        with op.get_context().autocommit_block():
            op.create_index('ix_audit_events_failed_login_addr', 'audit_events',
                            ['client_addr', 'at'], postgresql_where=_WHERE,
                            postgresql_concurrently=True)
    else:
        op.create_index('ix_audit_events_failed_login_addr', 'audit_events',
                        ['client_addr', 'at'], sqlite_where=_WHERE)


def downgrade() -> None:
    op.drop_index('ix_audit_events_failed_login_addr', table_name='audit_events')
