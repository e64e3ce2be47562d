"""JSON shapes of domain objects and read models."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from docflow.domain.documents import Document, DocumentUpdate, Revision
from docflow.domain.notifications import Notice
from docflow.domain.org import Actor
from docflow.domain.routing import EDXML_STATUS, RECALL_CODES, Dispatch, Duplicate, Receipt


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def revision(r: Revision) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind.value, "seq": r.seq, "filename": r.filename,
            "sha256": r.sha256, "size": r.size, "media_type": r.media_type,
            "page_count": r.page_count, "created_at": _iso(r.created_at),
            "created_by": r.created_by}


def document(d: Document, actions: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": d.id, "unit_code": d.unit_code, "type": d.doc_type, "type_name": d.type_name,
        "abstract": d.abstract, "urgency": d.urgency.value,
        "confidentiality": d.confidentiality.value, "recipients": list(d.recipients),
        "reply_due": _iso(d.reply_due), "status": d.status.value, "number": d.number,
        "symbol": d.symbol, "issued_at": _iso(d.issued_at), "created_by": d.created_by,
        "created_at": _iso(d.created_at), "updated_at": _iso(d.updated_at),
        "workflow": d.workflow, "workflow_version": d.workflow_version,
        "number_period": d.number_period,
        "department": d.department, "recalled_at": _iso(d.recalled_at),
        "recall_reason": d.recall_reason, "channel": d.channel.value,
        "issuer_name": d.issuer_name, "issuer_code": d.issuer_code, "identifier": d.identifier,
        "replaces_id": d.replaces_id, "replaced_by_id": d.replaced_by_id,
        "replaced_at": _iso(d.replaced_at),
        "revisions": [revision(r) for r in d.revisions],
    }
    if actions is not None:
        body["actions"] = actions
    return body


def dispatch(x: Dispatch) -> dict[str, Any]:
    return {"id": x.id, "document_id": x.document_id, "status": x.status.value,
            "created_at": _iso(x.created_at), "recipient_count": x.recipient_count,
            "target": {"units": list(x.target.unit_codes), "level": x.target.level,
                       "under": x.target.under}}


def document_update(u: DocumentUpdate) -> dict[str, Any]:
    return {"id": u.id, "at": _iso(u.at), "by": u.by, "reason": u.reason,
            "changes": u.changes}


def notice(n: Notice) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind.value, "title": n.title, "at": _iso(n.created_at),
            "document_id": n.document_id, "receipt_id": n.receipt_id,
            "read_at": _iso(n.read_at), "mailed_at": _iso(n.mailed_at)}


def duplicate(d: Duplicate) -> dict[str, Any]:
    e = d.entry
    return {"receipt_id": e.receipt_id, "document_id": e.document_id,
            "arrival_number": e.arrival_number, "arrival_year": e.arrival_year,
            "symbol": e.symbol, "abstract": e.abstract, "issuer": e.issuer,
            "identifier": e.identifier, "why": d.why}


def receipt(r: Receipt, actions: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": r.id, "document_id": r.document_id, "unit_code": r.unit_code,
            "status": r.status.value, "edxml_status": EDXML_STATUS.get(r.status),
            "delivered_at": _iso(r.delivered_at), "arrival_number": r.arrival_number,
            "arrival_year": r.arrival_year, "registered_at": _iso(r.registered_at),
            "completed_at": _iso(r.completed_at), "return_reason": r.return_reason,
            "deadline": r.deadline.isoformat() if r.deadline else None,
            "assigned_at": _iso(r.assigned_at), "result_document_id": r.result_document_id,
            "workflow_version": r.workflow_version,
            "recall": r.recall.value if r.recall else None,
            "recall_code": RECALL_CODES[r.recall] if r.recall else None,
            "recall_reason": r.recall_reason}
    if actions is not None:
        body["actions"] = actions
    return body


def actor(a: Actor) -> dict[str, Any]:
    return {"id": a.id, "username": a.user.username, "full_name": a.user.full_name,
            "roles": [{"unit_code": m.unit_code, "role": m.role.value} for m in a.memberships]}


def plain(obj: Any) -> dict[str, Any]:
    """A read-model dataclass as JSON-ready values."""
    return {k: _iso(v) if isinstance(v, (datetime, date)) else v
            for k, v in asdict(obj).items()}


def cursor(at: datetime, ident: str) -> str:
    """The `before` value that continues a list after this item (keyset pagination)."""
    return f"{_iso(at)}|{ident}"
