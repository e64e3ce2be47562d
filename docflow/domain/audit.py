"""Audit events: every state change, view and download leaves one, in the same transaction.

Each event is also a link of its object's hash chain (the hash of the event before it on the
same document, user or unit), so that even one document's trail, exported alone, shows a
missing event; and, once sequenced, a leaf of the log's Merkle tree (`docflow.domain.merkle`).
The record hashed is plain JSON with sorted keys: anyone can recompute it from an export.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from docflow.domain import merkle


class Verdict(StrEnum):
    """What a witness concludes of a tree head it receives, against the one it holds."""

    CONSISTENT = "consistent"
    FORKED = "forked"
    ROLLED_BACK = "rolled_back"


class Action(StrEnum):
    """What happened; ``subject.verb``."""

    DOCUMENT_CREATE = "document.create"
    DOCUMENT_VIEW = "document.view"
    DOCUMENT_ATTACH = "document.attach"
    DOCUMENT_DOWNLOAD = "document.download"
    DOCUMENT_SUBMIT = "document.submit"
    DOCUMENT_APPROVE = "document.approve"
    DOCUMENT_RETURN = "document.return"
    DOCUMENT_ISSUE = "document.issue"
    DOCUMENT_RECEIVE_EXTERNAL = "document.receive_external"
    DOCUMENT_COMMENT = "document.comment"
    DOCUMENT_REVIEW = "document.review"
    DOCUMENT_NUMBER = "document.number"
    DOCUMENT_RELEASE_NUMBER = "document.release_number"
    DOCUMENT_DISPATCH = "document.dispatch"
    DOCUMENT_SIGN = "document.sign"
    DOCUMENT_RECALL = "document.recall"
    DOCUMENT_REPLACE = "document.replace"
    DOCUMENT_UPDATE = "document.update"
    RECEIPT_RECALL_AGREE = "receipt.recall_agree"
    RECEIPT_RECALL_REFUSE = "receipt.recall_refuse"
    CONSULTATION_ASK = "consultation.ask"
    CONSULTATION_ANSWER = "consultation.answer"
    CONSULTATION_CONCLUDE = "consultation.conclude"
    RECEIPT_DELIVER = "receipt.deliver"
    RECEIPT_REGISTER = "receipt.register"
    RECEIPT_RETURN = "receipt.return"
    RECEIPT_COMPLETE = "receipt.complete"
    RECEIPT_FORWARD = "receipt.forward"
    RECEIPT_ASSIGN = "receipt.assign"
    RECEIPT_PROGRESS = "receipt.progress"
    RECEIPT_EXTEND = "receipt.extend"
    USER_LOGIN = "user.login"
    USER_LOGIN_FAILED = "user.login_failed"
    USER_LOGIN_LOCKED = "user.login_locked"
    USER_CREATE = "user.create"
    USER_PASSWORD = "user.password"
    USER_SIGNATURE_IMAGE = "user.signature_image"
    UNIT_SEAL_IMAGE = "unit.seal_image"
    ROLE_GRANT = "role.grant"
    REPORT_REQUEST = "report.request"
    REPORT_SUBMIT = "report.submit"
    REPORT_REMIND = "report.remind"
    REPORT_EXTEND = "report.extend"
    REPORT_CLOSE = "report.close"
    REPORT_COMPILE = "report.compile"
    DELEGATION_GRANT = "delegation.grant"
    DELEGATION_REVOKE = "delegation.revoke"
    TOKEN_CREATE = "token.create"
    ORG_IMPORT = "org.import"
    ORG_MERGE = "org.merge"
    DOCUMENT_TRANSFER = "document.transfer"
    AUDIT_QUERY = "audit.query"
    AUDIT_EXPORT = "audit.export"
    AUDIT_EVIDENCE = "audit.evidence"
    AUDIT_STATEMENT = "audit.statement"
    AUDIT_WITNESS_ADD = "audit.witness_add"
    AUDIT_WITNESS = "audit.witness"


@dataclass(frozen=True)
class Origin:
    """Where a request came from; recorded with every event it causes."""

    client_addr: str | None = None
    user_agent: str | None = None
    via: str = "api"
    """``web``, ``api``, ``cli``, ``job``."""


SYSTEM = Origin(via="job")


@dataclass(frozen=True)
class AuditEvent:
    """One trace of Appendix VI: who did what to which object, when, from where."""

    at: datetime
    action: Action
    object_type: str
    object_id: str
    actor_id: str | None
    unit_code: str | None
    document_id: str | None
    origin: Origin
    details: dict[str, Any] = field(default_factory=dict)
    authority: str | None = None
    """The capacity the actor acted in: their roles in the unit, or a signing authority
    (``KT.``, ``TUQ.``…) with its delegation."""


RECORD_VERSION = 1
ADDR_LIMIT = 64
AGENT_LIMIT = 300
HASHED = ("v", "at", "action", "object_type", "object_id", "actor_id", "authority",
          "unit_code", "document_id", "via", "client_addr", "user_agent", "details",
          "chain", "seq", "prev")
"""The fields of a record that its hash covers; the others (``id``, ``hash``, ``leaf``)
say where it is kept."""


def chain_for(object_type: str, object_id: str, document_id: str | None = None) -> str:
    """The chain an object's events extend: its document's when it has one."""
    if document_id:
        return f"document:{document_id}"
    return f"{object_type}:{object_id}"


def chain_of(event: AuditEvent) -> str:
    """The chain the event extends."""
    return chain_for(event.object_type, event.object_id, event.document_id)


def timestamp(at: datetime) -> str:
    """UTC to the microsecond, the precision both databases keep."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Linked:
    """An event as the log writes it: its record's fields, the details as canonical JSON
    text (what the database stores), and the record's hash."""

    fields: dict[str, Any]
    details_json: str
    digest: bytes

    def record(self) -> dict[str, Any]:
        return {**self.fields, "details": json.loads(self.details_json)}


def link(event: AuditEvent, seq: int, prev: bytes | None) -> Linked:
    """The event as its chain's `seq`-th link (from 1) after the hash `prev`: JSON values,
    cut to the stored widths, hashed as `record_hash` hashes them once read back."""
    origin = event.origin
    fields = {
        "v": RECORD_VERSION, "at": timestamp(event.at), "action": event.action.value,
        "object_type": event.object_type, "object_id": event.object_id,
        "actor_id": event.actor_id, "authority": event.authority,
        "unit_code": event.unit_code, "document_id": event.document_id, "via": origin.via,
        "client_addr": (origin.client_addr or None) and origin.client_addr[:ADDR_LIMIT],
        "user_agent": (origin.user_agent or None) and origin.user_agent[:AGENT_LIMIT],
        "chain": chain_of(event), "seq": seq, "prev": prev.hex() if prev else None,
    }
    try:
        details = _dumps(event.details)
    except TypeError:  # keys of several kinds: JSON makes them all strings first
        details = _dumps(json.loads(json.dumps(event.details, ensure_ascii=False)))
    # Canonical JSON is idempotent (dumps(loads(x)) == x), so the details' text can be put in
    # place instead of encoding them twice; "details" is a key of ours, never inside a value
    # (quotes in values are escaped).
    text = _dumps({**fields, "details": 0}).replace('"details":0', '"details":' + details, 1)
    return Linked(fields, details, hashlib.sha256(text.encode()).digest())


def record_of(event: AuditEvent, seq: int, prev: bytes | None) -> dict[str, Any]:
    """The record `link` hashes, as a reader gets it back."""
    return link(event, seq, prev).record()


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes hashed: the `HASHED` fields as JSON, keys sorted, no spaces, UTF-8."""
    return _dumps({k: record[k] for k in HASHED}).encode()


def record_hash(record: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical record: the chain's link and the Merkle leaf's content."""
    return hashlib.sha256(canonical(record)).digest()


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head (STH): the log's size and root at a moment, signed with the log's
    own key (never the organisation's seal, which is a legal signature), and timestamped by
    the TSA when one is configured."""

    tree_size: int
    timestamp: int
    """Milliseconds since the epoch, as RFC 9162 counts them."""
    root: bytes
    key_id: bytes
    """SHA-256 of the log key's SubjectPublicKeyInfo."""
    signature: bytes
    tsa_token: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "timestamp": self.timestamp,
                "root": self.root.hex(), "key_id": self.key_id.hex(),
                "signature": self.signature.hex(),
                "tsa_token": self.tsa_token.hex() if self.tsa_token else None}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> TreeHead:
        """Raises KeyError or ValueError on a malformed head."""
        token = value.get("tsa_token")
        return cls(tree_size=int(value["tree_size"]), timestamp=int(value["timestamp"]),
                   root=bytes.fromhex(value["root"]), key_id=bytes.fromhex(value["key_id"]),
                   signature=bytes.fromhex(value["signature"]),
                   tsa_token=bytes.fromhex(token) if token else None)


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor asks of the trail; every field narrows it. `scope`: the unit paths the
    asker audits (None: everything, for the operator's command line)."""

    scope: tuple[str, ...] | None
    document_id: str | None = None
    actor_id: str | None = None
    under: str | None = None
    """A unit path: events of that unit and everything below it."""
    actions: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def judge(held: TreeHead | None, new: TreeHead, proof: Sequence[bytes]) -> Verdict:
    """Whether `new` extends the head a witness holds (RFC 9162 consistency), or shows the
    log forked or rolled back. Signatures are checked before this."""
    if held is None:
        return Verdict.CONSISTENT
    if new.tree_size < held.tree_size:
        return Verdict.ROLLED_BACK
    if new.tree_size == held.tree_size:
        return Verdict.CONSISTENT if new.root == held.root else Verdict.FORKED
    try:
        merkle.verify_consistency(held.tree_size, new.tree_size, held.root, new.root, proof)
    except merkle.ProofError:
        return Verdict.FORKED
    return Verdict.CONSISTENT
