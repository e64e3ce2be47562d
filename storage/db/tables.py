"""The schema. Alembic migrations create it; this module is the mapping the code reads."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)
ID = Uuid(as_uuid=False)

levels = Table(
    "levels", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("rank", Integer, nullable=False),
)

units = Table(
    "units", metadata,
    Column("code", String(13), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("abbreviation", String(20), nullable=False),
    Column("level", String(32), ForeignKey("levels.code"), nullable=False),
    Column("parent_code", String(13), ForeignKey("units.code"), nullable=True),
    Column("path", String(400), nullable=False),
    Column("valid_from", Date, nullable=True),
    Column("valid_to", Date, nullable=True),
    Column("successor_code", String(13), ForeignKey("units.code"), nullable=True),
    Column("search_name", Text, nullable=False, server_default=""),
    Column("family", String(8), nullable=False, server_default="state"),
    Column("seal_image", String(64), nullable=True),  # sha256 of the blob: a transparent PNG
    # varchar_pattern_ops lets PostgreSQL answer "path LIKE 'P01/%'" (a subtree) from the index
    # whatever the database collation.
    Index("ix_units_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    Index("ix_units_level_path", "level", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    Index("ix_units_parent_code", "parent_code"),
    # Every actor's roles reach the units merged into theirs: looked up on each request.
    Index("ix_units_successor_code", "successor_code"),
)

users = Table(
    "users", metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("email", String(254), nullable=True),
    Column("locale", String(8), nullable=True),
    Column("signature_image", String(64), nullable=True),  # sha256 of the blob: a PNG
)

memberships = Table(
    "memberships", metadata,
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("unit_code", String(13), ForeignKey("units.code"), primary_key=True),
    Column("role", String(16), primary_key=True),
    CheckConstraint("role in ('clerk','officer','leader','auditor','admin')", name="role"),
    Index("ix_memberships_unit_code_role", "unit_code", "role"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
)

documents = Table(
    "documents", metadata,
    Column("id", ID, primary_key=True),
    Column("unit_code", String(13), ForeignKey("units.code"), nullable=False),
    Column("created_by", ID, ForeignKey("users.id"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("doc_type", String(8), nullable=False),
    Column("abstract", Text, nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("confidentiality", String(16), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("reply_due", Date, nullable=True),
    Column("status", String(16), nullable=False),
    Column("workflow", String(64), nullable=False, server_default="outgoing"),
    Column("workflow_version", Integer, nullable=False),
    Column("number", Integer, nullable=True),
    Column("symbol", String(64), nullable=True),
    Column("issued_at", TS, nullable=True),
    Column("issued_year", Integer, nullable=True),
    Column("number_period", String(32), nullable=True),
    Column("number_register", String(40), nullable=True),
    Column("department", String(10), nullable=True),
    Column("recalled_at", TS, nullable=True),
    Column("recall_reason", Text, nullable=True),
    Column("search_text", Text, nullable=False, server_default=""),
    Column("channel", String(8), nullable=False, server_default="docflow"),
    Column("issuer_name", Text, nullable=True),
    Column("issuer_code", String(13), nullable=True),
    # What "the same issuer" compares for duplicate warnings: a unit's code, an external
    # issuer's code, or its folded name.
    Column("issuer_key", String(200), nullable=True, index=True),
    Column("identifier", String(200), nullable=True, index=True),
    # A new document names the issued one it supersedes; the old one learns it at issue.
    Column("replaces_id", ID, nullable=True),
    Column("replaced_by_id", ID, nullable=True),
    Column("replaced_at", TS, nullable=True),
    # A number on an issued document is never given twice by the same issuer from the same
    # register in a period (a year, or a Party committee's term).
    UniqueConstraint("unit_code", "number_register", "number_period", "number"),
    Index("ix_documents_unit_code_updated_at", "unit_code", "updated_at"),
)

revisions = Table(
    "revisions", metadata,
    Column("id", ID, primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("filename", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("page_count", Integer, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", ID, ForeignKey("users.id"), nullable=False),
    Column("parent_id", ID, ForeignKey("revisions.id"), nullable=True),
    UniqueConstraint("document_id", "kind", "seq"),
    Index("ix_revisions_sha256", "sha256"),
)

dispatches = Table(
    "dispatches", metadata,
    Column("id", ID, primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    Column("created_by", ID, ForeignKey("users.id"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("target", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("recipient_count", Integer, nullable=False, default=0),
    Column("revision_sha256", String(64), nullable=True),
    Column("sender_unit", String(13), ForeignKey("units.code"), nullable=True),
    Column("deadline", Date, nullable=True),
    Index("ix_dispatches_status_created_at", "status", "created_at"),
)

# No foreign keys to dispatches and documents: entries are only ever written by the fan-out job
# while it holds its dispatch row locked (so both exist), documents and dispatches are never
# deleted, and PostgreSQL checks a foreign key row by row, which cost a dispatch to 10,000
# units ~90 ms of its 0.5 s budget. The key to units stays.
receipts = Table(
    "receipts", metadata,
    Column("id", ID, primary_key=True),
    Column("dispatch_id", ID, nullable=False),
    Column("document_id", ID, nullable=False),
    Column("unit_code", String(13), ForeignKey("units.code"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("delivered_at", TS, nullable=False),
    Column("arrival_number", Integer, nullable=True),
    Column("arrival_year", Integer, nullable=True),
    Column("registered_at", TS, nullable=True),
    Column("registered_by", ID, ForeignKey("users.id"), nullable=True),
    Column("completed_at", TS, nullable=True),
    Column("completed_by", ID, ForeignKey("users.id"), nullable=True),
    Column("return_reason", Text, nullable=True),
    Column("updated_at", TS, nullable=False),
    Column("workflow_version", Integer, nullable=False, server_default=text("1")),
    Column("deadline", Date, nullable=True),
    Column("assigned_at", TS, nullable=True),
    Column("result_document_id", ID, nullable=True),
    Column("recall", String(8), nullable=True),
    Column("recall_reason", Text, nullable=True),
    UniqueConstraint("document_id", "unit_code"),
    # Arrival numbers never repeat in a unit's year; entries not yet registered have none and
    # stay out of the index, which keeps a dispatch to thousands of units cheap.
    Index("uq_receipts_arrival", "unit_code", "arrival_year", "arrival_number", unique=True,
          postgresql_where=text("arrival_number IS NOT NULL"),
          sqlite_where=text("arrival_number IS NOT NULL")),
    Index("ix_receipts_unit_code_delivered_at", "unit_code", "delivered_at"),
)

signatures = Table(
    "signatures", metadata,
    Column("id", ID, primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    Column("revision_id", ID, ForeignKey("revisions.id"), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("field", String(64), nullable=False),
    Column("signed_sha256", String(64), nullable=False),
    Column("result_sha256", String(64), nullable=False),
    Column("signer_subject", String(400), nullable=False),
    Column("certificate_sha256", String(64), nullable=False),
    Column("certificate_der", LargeBinary, nullable=False),
    Column("authority", String(8), nullable=True),
    Column("signed_at", TS, nullable=False),
    Column("actor_id", ID, ForeignKey("users.id"), nullable=False),
    Index("ix_signatures_document_id_signed_at", "document_id", "signed_at"),
)

# Signature validation reports, one per file (by content): every recipient of a dispatch
# registers the same bytes, so the same report.
validations = Table(
    "validations", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("verdict", String(16), nullable=False),
    Column("report", JSON, nullable=False),
    Column("validated_at", TS, nullable=False),
)

# Signatures prepared here and signed on a token or by a remote service; the prepared PDF is
# a blob, the rest of phase two's state is `state`.
signing_sessions = Table(
    "signing_sessions", metadata,
    Column("id", ID, primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    Column("actor_id", ID, ForeignKey("users.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("base_revision_id", ID, ForeignKey("revisions.id"), nullable=False),
    Column("prepared_sha256", String(64), nullable=False),
    Column("state", JSON, nullable=False),
    Column("authority", String(8), nullable=True),
    Column("expires_at", TS, nullable=False),
    Column("completed_at", TS, nullable=True),
)

signing_batches = Table(
    "signing_batches", metadata,
    Column("id", ID, primary_key=True),
    Column("actor_id", ID, ForeignKey("users.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
)

signing_batch_items = Table(
    "signing_batch_items", metadata,
    Column("id", ID, primary_key=True),
    Column("batch_id", ID, ForeignKey("signing_batches.id"), nullable=False),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    Column("session_id", ID, ForeignKey("signing_sessions.id"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("signature_value", LargeBinary, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_signing_batch_items_batch_id", "batch_id"),
)

delegations = Table(
    "delegations", metadata,
    Column("id", ID, primary_key=True),
    Column("unit_code", String(13), ForeignKey("units.code"), nullable=False),
    Column("grantor_id", ID, ForeignKey("users.id"), nullable=False),
    Column("grantee_id", ID, ForeignKey("users.id"), nullable=False),
    Column("authority", String(8), nullable=False),
    Column("doc_types", JSON, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
    Index("ix_delegations_grantee_id_unit_code", "grantee_id", "unit_code"),
)

report_requests = Table(
    "report_requests", metadata,
    Column("id", ID, primary_key=True),
    Column("unit_code", String(13), ForeignKey("units.code"), nullable=False),
    Column("title", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("created_by", ID, ForeignKey("users.id"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("closed_at", TS, nullable=True),
    Column("close_reason", Text, nullable=True),
    Index("ix_report_requests_unit_code", "unit_code"),
)

report_submissions = Table(
    "report_submissions", metadata,
    Column("request_id", ID, ForeignKey("report_requests.id"), primary_key=True),
    Column("unit_code", String(13), ForeignKey("units.code"), primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=True),
    Column("submitted_by", ID, ForeignKey("users.id"), nullable=True),
    Column("submitted_at", TS, nullable=True),
    Column("late", Boolean, nullable=False, server_default=text("false")),
    Index("ix_report_submissions_unit_code", "unit_code"),
)

committee_terms = Table(
    "committee_terms", metadata,
    Column("unit_code", String(13), ForeignKey("units.code"), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
)

# Each (re)assignment of an incoming entry: the leader's annotation (bút phê), one lead, the
# people coordinating and those informed, and the deadline; the newest one is in force.
assignments = Table(
    "assignments", metadata,
    Column("id", ID, primary_key=True),
    Column("receipt_id", ID, ForeignKey("receipts.id"), nullable=False),
    Column("annotation", Text, nullable=False),
    Column("lead_id", ID, ForeignKey("users.id"), nullable=False),
    Column("coordinators", JSON, nullable=False),
    Column("informed", JSON, nullable=False),
    # Sub-units named too: [{"unit": code, "as": "coordinator" | "informed"}]
    Column("units", JSON, nullable=False, server_default=text("'[]'")),
    Column("deadline", Date, nullable=False),
    Column("assigned_by", ID, ForeignKey("users.id"), nullable=False),
    Column("assigned_at", TS, nullable=False),
    Index("ix_assignments_receipt_id", "receipt_id"),
    Index("ix_assignments_lead_id", "lead_id"),
)

progress_notes = Table(
    "progress_notes", metadata,
    Column("id", ID, primary_key=True),
    Column("receipt_id", ID, ForeignKey("receipts.id"), nullable=False),
    Column("author_id", ID, ForeignKey("users.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", TS, nullable=False),
    Index("ix_progress_notes_receipt_id", "receipt_id"),
)

consultations = Table(
    "consultations", metadata,
    Column("id", ID, primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    Column("unit_code", String(13), ForeignKey("units.code"), nullable=False),
    Column("asked_by", ID, ForeignKey("users.id"), nullable=False),
    Column("question", Text, nullable=False),
    Column("participants", JSON, nullable=False),
    Column("quorum", Integer, nullable=True),
    Column("deadline", Date, nullable=True),
    Column("status", String(16), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("conclusion", Text, nullable=True),
    Column("concluded_by", ID, ForeignKey("users.id"), nullable=True),
    Column("concluded_at", TS, nullable=True),
    Index("ix_consultations_document_id", "document_id"),
)

# One opinion per person asked: the primary key refuses a second one.
consultation_opinions = Table(
    "consultation_opinions", metadata,
    Column("consultation_id", ID, ForeignKey("consultations.id"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("answer", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", TS, nullable=False),
)

sequences = Table(
    "sequences", metadata,
    Column("unit_code", String(13), ForeignKey("units.code"), primary_key=True),
    Column("register", String(32), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("last_value", Integer, nullable=False),
    # How many numbers of this sequence were given back and wait in `released_numbers`.
    Column("released", Integer, nullable=False, server_default="0"),
)

released_numbers = Table(
    # A number reserved for an issue that was cancelled before issue; the next issue of the
    # same sequence takes it, so the register stays 1..N.
    "released_numbers", metadata,
    Column("unit_code", String(13), primary_key=True),
    Column("register", String(32), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("released_at", TS, nullable=False),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False),
    # No foreign key to `sequences`: only SqlSequences writes here, under the sequence row's
    # lock, and a key would queue a trigger event on every number given from that row.
)

audit_events = Table(
    "audit_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", TS, nullable=False),
    Column("action", String(40), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("actor_id", ID, nullable=True),
    Column("unit_code", String(13), nullable=True),
    Column("document_id", ID, nullable=True),
    Column("via", String(8), nullable=False),
    Column("client_addr", String(64), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Column("details", JSON, nullable=False),
    Column("authority", String(200), nullable=True),
    # The object's hash chain (docflow/domain/audit.py): which chain, the place in it, the
    # hash of the event before and of this one.
    Column("chain", String(100), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("prev", LargeBinary, nullable=True),
    Column("hash", LargeBinary, nullable=False),
    UniqueConstraint("chain", "seq"),
    Index("ix_audit_events_document_id_id", "document_id", "id"),
    Index("ix_audit_events_object_type_object_id_id", "object_type", "object_id", "id"),
    Index("ix_audit_events_actor_id_id", "actor_id", "id"),
    Index("ix_audit_events_unit_code_id", "unit_code", "id"),
    Index("ix_audit_events_at", "at"),
    # Failed logins by address, for the per-address limit (docflow/services/identity.py): a
    # partial index, so the rest of the log pays nothing for it.
    Index("ix_audit_events_failed_login_addr", "client_addr", "at",
          postgresql_where=text("action = 'user.login_failed'"),
          sqlite_where=text("action = 'user.login_failed'")),
)

audit_chains = Table(
    # The head of each object's chain, row-locked by the event that extends it: writers on one
    # object queue here, writers on different objects never meet.
    "audit_chains", metadata,
    Column("chain", String(100), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=True),
)

audit_pending = Table(
    # Events committed and not yet in the Merkle tree; a trigger on audit_events fills it.
    "audit_pending", metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

audit_log = Table(
    # One row: the tree's size and head, locked by the sequencer (the only writer of the tree).
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
)

audit_leaves = Table(
    "audit_leaves", metadata,
    Column("leaf_index", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("event_id", BigInteger, nullable=False, unique=True),
    Column("hash", LargeBinary, nullable=False),
)

audit_nodes = Table(
    # Every complete perfect subtree above the leaves: any proof is O(log n) of these rows.
    "audit_nodes", metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

audit_tree_heads = Table(
    "audit_tree_heads", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("tree_size", BigInteger, nullable=False, index=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("key_id", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("tsa_token", LargeBinary, nullable=True),
)

audit_witness_logs = Table(
    # Other docflow logs this one witnesses (a child unit's deployment), by their key's id.
    "audit_witness_logs", metadata,
    Column("log_id", LargeBinary, primary_key=True),
    Column("unit_code", String(13), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("added_at", TS, nullable=False),
)

audit_witnessed = Table(
    # Their tree heads as received: the consistent ones, and any that contradicted what was
    # held (kept as evidence of the fork or rollback).
    "audit_witnessed", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("log_id", LargeBinary, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("tsa_token", LargeBinary, nullable=True),
    Column("received_at", TS, nullable=False),
    Column("verdict", String(16), nullable=False),
    CheckConstraint("verdict in ('consistent','forked','rolled_back')", name="verdict"),
    Index("ix_audit_witnessed_log_id_id", "log_id", "id"),
)

notifications = Table(
    "notifications", metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("title", Text, nullable=False),
    Column("key", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("document_id", ID, nullable=True),
    Column("receipt_id", ID, nullable=True),
    Column("read_at", TS, nullable=True),
    # Mail goes out from a sweep of the rows not mailed yet (only when SMTP is configured).
    Column("mailed_at", TS, nullable=True, index=True),
    UniqueConstraint("user_id", "key"),
    Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
)

document_updates = Table(
    "document_updates", metadata,
    Column("id", ID, primary_key=True),
    Column("document_id", ID, ForeignKey("documents.id"), nullable=False, index=True),
    Column("at", TS, nullable=False),
    Column("by", ID, ForeignKey("users.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changes", JSON, nullable=False),
)

