"""the audit trail as a tamper-evident log (issue 5): each event linked into its object's hash
chain; committed events queue for the sequencer, which makes them leaves of an RFC 9162
Merkle tree; signed tree heads

Events written before this migration are chained here, in the order they were written, and
queued for the tree like any other. The leaves, the tree's nodes and the tree heads are
append-only like the events; the queue (audit_pending) is not.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-22 08:00:00
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from docflow.domain.audit import Action, AuditEvent, Origin, chain_of, record_hash, record_of
from docflow.domain.merkle import EMPTY_ROOT

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

MESSAGE = "audit_events is append-only: events are never changed or removed"
FROZEN = ("audit_leaves", "audit_nodes", "audit_tree_heads")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _drop_event_triggers() -> None:
    if _pg():
        op.execute("DROP TRIGGER audit_events_no_change ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")


def _create_event_triggers() -> None:
    """Migration 0020's refusals on audit_events, put back after the table was rebuilt."""
    if _pg():
        op.execute("""
            CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""")
        op.execute("""
            CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events
                BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def _append_only(table: str) -> None:
    message = f"{table} is append-only: rows are never changed or removed"
    if _pg():
        op.execute(f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{message}' USING ERRCODE = 'insufficient_privilege';
            END $$""")
        op.execute(f"""
            CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""")
        op.execute(f"""
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def _backfill() -> dict[str, tuple[int, bytes]]:
    conn = op.get_bind()
    events = sa.table(
        "audit_events", sa.column("id", sa.BigInteger()), sa.column("at", sa.DateTime(True)),
        *(sa.column(c, sa.String()) for c in ("action", "object_type", "object_id",
                                              "unit_code", "via", "client_addr",
                                              "user_agent", "chain")),
        sa.column("actor_id", sa.Uuid(as_uuid=False)),
        sa.column("document_id", sa.Uuid(as_uuid=False)),
        sa.column("details", sa.JSON()), sa.column("seq", sa.BigInteger()),
        sa.column("prev", sa.LargeBinary()), sa.column("hash", sa.LargeBinary()))
    heads: dict[str, tuple[int, bytes]] = {}
    for r in conn.execute(sa.select(events).order_by(events.c.id)).fetchall():
        at = r.at.replace(tzinfo=UTC) if r.at.tzinfo is None else r.at
        event = AuditEvent(at=at, action=Action(r.action), object_type=r.object_type,
                           object_id=r.object_id, actor_id=r.actor_id, unit_code=r.unit_code,
                           document_id=r.document_id,
                           origin=Origin(client_addr=r.client_addr, user_agent=r.user_agent,
                                         via=r.via), details=dict(r.details))
        chain = chain_of(event)
        seq, prev = heads.get(chain, (0, None))
        digest = record_hash(record_of(event, seq + 1, prev))
        heads[chain] = (seq + 1, digest)
        conn.execute(sa.update(events).where(events.c.id == r.id).values(
            chain=chain, seq=seq + 1, prev=prev, hash=digest))
    return heads


def upgrade() -> None:
    _drop_event_triggers()
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authority', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('chain', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.LargeBinary(), nullable=True))
    heads = _backfill()
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain', existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_chain_seq'),
                                          ['chain', 'seq'])
        batch_op.create_index(batch_op.f('ix_audit_events_unit_code_id'), ['unit_code', 'id'])
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'])

    chains = op.create_table(
        'audit_chains',
        sa.Column('chain', sa.String(length=100), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_chains')))
    op.create_table(
        'audit_pending',
        sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=False, nullable=False),
        sa.Column('hash', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_audit_pending')))
    log = op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('tree_size', sa.BigInteger(), nullable=False),
        sa.Column('root', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')))
    op.create_table(
        'audit_leaves',
        sa.Column('leaf_index', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=False, nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('leaf_index', name=op.f('pk_audit_leaves')),
        sa.UniqueConstraint('event_id', name=op.f('uq_audit_leaves_event_id')))
    op.create_table(
        'audit_nodes',
        sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('hash', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_audit_nodes')))
    op.create_table(
        'audit_tree_heads',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('tree_size', sa.BigInteger(), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.Column('root', sa.LargeBinary(), nullable=False),
        sa.Column('key_id', sa.LargeBinary(), nullable=False),
        sa.Column('signature', sa.LargeBinary(), nullable=False),
        sa.Column('tsa_token', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_tree_heads')))
    op.create_index(op.f('ix_audit_tree_heads_tree_size'), 'audit_tree_heads', ['tree_size'])

    op.bulk_insert(log, [{"id": 1, "tree_size": 0, "root": EMPTY_ROOT}])
    op.bulk_insert(chains, [{"chain": c, "seq": s, "hash": h} for c, (s, h) in heads.items()])
    op.execute("INSERT INTO audit_pending (event_id, hash) SELECT id, hash FROM audit_events")

    # Every committed event queues for the sequencer, however it was written.
    if _pg():
        op.execute("""
            CREATE FUNCTION audit_events_queue() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO audit_pending (event_id, hash) SELECT id, hash FROM new_events;
                RETURN NULL;
            END $$""")
        op.execute("""
            CREATE TRIGGER audit_events_queue AFTER INSERT ON audit_events
            REFERENCING NEW TABLE AS new_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_queue()""")
    else:
        op.execute("""
            CREATE TRIGGER audit_events_queue AFTER INSERT ON audit_events
            BEGIN INSERT INTO audit_pending (event_id, hash) VALUES (NEW.id, NEW.hash); END""")
    _create_event_triggers()
    for table in FROZEN:
        _append_only(table)


def downgrade() -> None:
    for table in FROZEN:
        if _pg():
            op.execute(f"DROP TRIGGER {table}_no_change ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP FUNCTION {table}_append_only()")
    if _pg():
        op.execute("DROP TRIGGER audit_events_queue ON audit_events")
        op.execute("DROP FUNCTION audit_events_queue()")
    else:
        op.execute("DROP TRIGGER audit_events_queue")
    _drop_event_triggers()
    op.drop_index(op.f('ix_audit_tree_heads_tree_size'), table_name='audit_tree_heads')
    for table in ('audit_tree_heads', 'audit_nodes', 'audit_leaves', 'audit_log',
                  'audit_pending', 'audit_chains'):
        op.drop_table(table)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_unit_code_id'))
        batch_op.drop_constraint(batch_op.f('uq_audit_events_chain_seq'), type_='unique')
        for column in ('hash', 'prev', 'seq', 'chain', 'authority'):
            batch_op.drop_column(column)
    _create_event_triggers()
