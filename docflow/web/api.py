"""The JSON API under /api/v1: parse, call one service, serialise."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, BinaryIO, TypeVar, cast
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, redirect, request, send_file
from flask.typing import ResponseReturnValue

from docflow.domain.consultations import Answer, Consultation
from docflow.domain.delegation import Delegation
from docflow.domain.documents import (
    Channel,
    Confidentiality,
    DraftSpec,
    ExternalSpec,
    RevisionKind,
    Urgency,
)
from docflow.domain.errors import Invalid
from docflow.domain.reports import ReportRequest
from docflow.domain.routing import Counts, DispatchTarget
from docflow.domain.signatures import Authority, BatchItem, SignatureKind, SignatureRecord
from docflow.services.paging import page_size
from docflow.services.ports import RemotePreparation
from docflow.services.uploads import spool
from docflow.web import serialize
from docflow.web.auth import begin_session, current_actor, end_session, origin, services
from docflow.web.openapi import openapi_document

E = TypeVar("E", bound=StrEnum)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _json() -> dict[str, Any]:
    if not request.is_json:
        raise Invalid("send a JSON body with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _enum(kind: type[E], value: Any, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise Invalid(f"'{field}' must be one of: {choices}") from None


def _date(value: Any, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"'{field}' must be a date (YYYY-MM-DD)") from None


def _str_list(value: Any, field: str, what: str = "unit codes") -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"'{field}' must be a list of {what}")
    return tuple(value)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())


@bp.post("/session")
def create_session() -> ResponseReturnValue:
    body = _json()
    actor = services().identity.login(str(body.get("username", "")),
                                       str(body.get("password", "")), origin())
    token = begin_session(actor)
    return {"user": serialize.actor(actor), "csrf_token": token}


@bp.delete("/session")
def delete_session() -> ResponseReturnValue:
    end_session()
    return Response(status=204)


@bp.get("/me")
def me() -> ResponseReturnValue:
    return serialize.actor(current_actor())


@bp.post("/tokens")
def create_token() -> ResponseReturnValue:
    body = _json() if request.data else {}
    token = services().identity.create_token(current_actor(), str(body.get("name", "api")),
                                             origin())
    return {"token": token}, 201


@bp.post("/documents")
def create_document() -> ResponseReturnValue:
    body = _json()
    spec = DraftSpec(
        doc_type=str(body.get("type", "")),
        abstract=str(body.get("abstract", "")),
        urgency=_enum(Urgency, body.get("urgency", "normal"), "urgency"),
        confidentiality=_enum(Confidentiality, body.get("confidentiality", "normal"),
                              "confidentiality"),
        recipients=_str_list(body.get("recipients"), "recipients"),
        reply_due=_date(body.get("reply_due"), "reply_due"),
        department=str(body.get("department") or "") or None,
        replaces=str(body.get("replaces") or "") or None,
    )
    unit = body.get("unit_code")
    doc = services().documents.draft(current_actor(), spec, origin(),
                                     unit_code=str(unit) if unit else None)
    return serialize.document(doc), 201, {"Location": f"/api/v1/documents/{doc.id}"}


@bp.get("/documents")
def list_documents() -> ResponseReturnValue:
    items = services().queries.outbox(current_actor(), request.args.get("limit", 50, type=int),
                                      request.args.get("before"))
    return {"items": [serialize.plain(i) for i in items]}


@bp.get("/documents/<document_id>")
def get_document(document_id: str) -> ResponseReturnValue:
    actor = current_actor()
    svc = services().documents
    doc = svc.view(actor, document_id, origin())
    return serialize.document(doc, svc.allowed_actions(actor, doc))


def _upload(document_id: str, kind: RevisionKind) -> ResponseReturnValue:
    if request.files:
        upload = next(iter(request.files.values()))
        stream, filename = upload.stream, upload.filename or "document.pdf"
    else:
        stream = request.stream
        filename = request.args.get("filename") or request.headers.get("X-Filename") \
            or "document.pdf"
    rev = services().documents.attach(current_actor(), document_id, kind, filename,
                                      stream, origin())  # type: ignore[arg-type]
    return serialize.revision(rev), 201


@bp.put("/documents/<document_id>/main")
def put_main(document_id: str) -> ResponseReturnValue:
    return _upload(document_id, RevisionKind.MAIN)


@bp.post("/documents/<document_id>/attachments")
def add_attachment(document_id: str) -> ResponseReturnValue:
    return _upload(document_id, RevisionKind.ATTACHMENT)


@bp.get("/documents/<document_id>/revisions/<revision_id>/content")
def download(document_id: str, revision_id: str) -> ResponseReturnValue:
    inline = request.args.get("inline") == "1"
    got = services().documents.download(current_actor(), document_id, revision_id, origin(),
                                        prefer_url=not inline)
    if got.url:
        return redirect(got.url, 302)
    assert got.stream is not None
    return send_file(got.stream, mimetype=got.revision.media_type, as_attachment=not inline,
                     download_name=got.revision.filename, etag=got.revision.sha256,
                     max_age=0)


@bp.post("/documents/<document_id>/<any(submit, pass, approve, number, issue):action>")
def advance(document_id: str, action: str) -> ResponseReturnValue:
    svc = services().documents
    step = {"submit": svc.submit, "pass": svc.pass_review, "approve": svc.approve,
            "number": svc.number, "issue": svc.issue}[action]
    actor = current_actor()
    doc = step(actor, document_id, origin())
    return serialize.document(doc, svc.allowed_actions(actor, doc))


@bp.post("/documents/<document_id>/<any(return, release):action>")
def return_document(document_id: str, action: str) -> ResponseReturnValue:
    reason = str(_json().get("reason", ""))
    actor = current_actor()
    svc = services().documents
    step = svc.return_to_drafter if action == "return" else svc.release_number
    doc = step(actor, document_id, reason, origin())
    return serialize.document(doc, svc.allowed_actions(actor, doc))


@bp.post("/documents/<document_id>/comments")
def comment_document(document_id: str) -> ResponseReturnValue:
    actor = current_actor()
    svc = services().documents
    doc = svc.comment(actor, document_id, str(_json().get("text", "")), origin())
    return serialize.document(doc, svc.allowed_actions(actor, doc)), 201


@bp.get("/documents/<document_id>/review")
def document_review(document_id: str) -> ResponseReturnValue:
    """The review rounds: submissions, comments, returns, passes, approval."""
    events = services().documents.review_trail(current_actor(), document_id)
    return {"items": [{"action": e.action.value, "at": e.at.isoformat(),
                       "actor_id": e.actor_id, "details": e.details} for e in events]}


@bp.post("/documents/<document_id>/dispatches")
def create_dispatch(document_id: str) -> ResponseReturnValue:
    made = services().documents.dispatch(current_actor(), document_id, _target(_json()),
                                         origin())
    return serialize.dispatch(made), 202


def _target(body: dict[str, Any]) -> DispatchTarget:
    return DispatchTarget(unit_codes=_str_list(body.get("units"), "units"),
                          level=body.get("level") or None, under=body.get("under") or None)


@bp.post("/receipts/<receipt_id>/forward")
def forward_receipt(receipt_id: str) -> ResponseReturnValue:
    """Pass a registered incoming document down to the unit's own sub-units (cascade)."""
    made = services().documents.forward(current_actor(), receipt_id, _target(_json()),
                                        origin())
    return serialize.dispatch(made), 202


@bp.get("/documents/<document_id>/cascade")
def cascade(document_id: str) -> ResponseReturnValue:
    """The roll-up: counts per level, and the entries `unit` passed down (default: those the
    issuer sent), each with its subtree's counts; `?unit=CODE` drills into a unit."""
    view = services().queries.cascade(current_actor(), document_id,
                                      request.args.get("unit") or None)
    return {"levels": [{"level": level, **_counts(c)} for level, c in view.levels],
            "parent": view.parent,
            "children": [{"receipt_id": e.receipt_id, "unit_code": e.unit_code,
                          "unit_name": e.unit_name, "level": e.level, "status": e.status.value,
                          "via_unit": e.via_unit, "delivered_at": e.delivered_at.isoformat(),
                          "subtree": _counts(e.subtree)} for e in view.children]}


def _counts(c: Counts) -> dict[str, int]:
    return {"arrived": c.arrived, "registered": c.registered, "assigned": c.assigned,
            "done": c.done, "returned": c.returned, "overdue": c.overdue}


@bp.get("/documents/<document_id>/recipients")
def recipients(document_id: str) -> ResponseReturnValue:
    counts, rows = services().queries.recipients(current_actor(), document_id)
    return {"counts": counts, "total": sum(counts.values()),
            "items": [serialize.plain(r) for r in rows]}


def _der(value: Any, field: str) -> bytes:
    """A certificate given as PEM text or base64 DER."""
    text = str(value or "")
    if "BEGIN CERTIFICATE" in text:
        text = "".join(line for line in text.splitlines() if line and "CERTIFICATE" not in line)
    try:
        der = base64.b64decode(text, validate=True)
    except ValueError:
        raise Invalid(f"'{field}' must be a PEM certificate or base64 DER") from None
    if not der:
        raise Invalid(f"'{field}' is required")
    return der


@dataclass(frozen=True)
class _SignerInput:
    """What both remote flows read from the request: the signature and the signer's
    certificate."""

    kind: SignatureKind
    certificate: bytes
    chain: list[bytes]
    position: str
    authority: Authority | None


def _signer_input(body: dict[str, Any]) -> _SignerInput:
    chain = body.get("chain") or []
    if not isinstance(chain, list):
        raise Invalid("'chain' must be a list of certificates")
    authority = body.get("authority")
    return _SignerInput(
        kind=_enum(SignatureKind, body.get("kind"), "kind"),
        certificate=_der(body.get("certificate"), "certificate"),
        chain=[_der(c, "chain") for c in chain], position=str(body.get("position", "")),
        authority=_enum(Authority, authority, "authority") if authority else None)


def _to_sign(prepared: RemotePreparation) -> dict[str, str]:
    return {"data_to_be_signed": base64.b64encode(prepared.data_to_be_signed).decode(),
            "data_to_be_signed_sha256":
                base64.b64encode(prepared.data_to_be_signed_digest).decode()}


@bp.post("/documents/<document_id>/signing-sessions")
def prepare_signature(document_id: str) -> ResponseReturnValue:
    """Phase one of a signature made on a USB token or by a remote signing service."""
    body = _json()
    signer = _signer_input(body)
    s = services()
    session, prepared = s.signatures.prepare_remote(
        current_actor(), document_id, signer.kind, s.remote_signing, signer.certificate,
        signer.chain, origin(), position=signer.position, authority=signer.authority,
        revision_id=body.get("revision_id") or None)
    return {"id": session.id, "kind": session.kind.value, "field": prepared.field,
            "digest_algorithm": "sha256", **_to_sign(prepared),
            "expires_at": session.expires_at.isoformat()}, 201


@bp.post("/signing-sessions/<session_id>")
def complete_signature(session_id: str) -> ResponseReturnValue:
    """Phase two: the signature value from the device; checked, then embedded."""
    value = str(_json().get("signature_value", ""))
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise Invalid("'signature_value' must be base64") from None
    s = services()
    record = s.signatures.complete_remote(current_actor(), session_id, raw, s.remote_signing,
                                          origin())
    return _record(record), 201


def _record(record: SignatureRecord) -> dict[str, Any]:
    return {"id": record.id, "kind": record.kind.value, "field": record.field,
            "revision_id": record.revision_id, "result_sha256": record.result_sha256,
            "signer": record.signer_subject, "signed_at": record.signed_at.isoformat()}


@bp.post("/documents/<document_id>/seal")
def seal_document(document_id: str) -> ResponseReturnValue:
    """The organisation's signature with the seal the server holds for the document's unit:
    on the main file, or on the attachment `revision_id` names."""
    body = _json()
    record = services().signatures.seal(current_actor(), document_id, origin(),
                                        revision_id=body.get("revision_id") or None)
    return _record(record), 201


def _batch_body(items: list[BatchItem], prepared: dict[str, RemotePreparation] | None = None
                ) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
    rows = []
    for item in items:
        row: dict[str, Any] = {"id": item.id, "document_id": item.document_id,
                               "status": item.status.value, "error": item.error}
        if prepared and item.id in prepared:
            row.update(_to_sign(prepared[item.id]))
        rows.append(row)
    return {"counts": counts, "total": len(items), "items": rows}


@bp.post("/signing-batches")
def create_batch() -> ResponseReturnValue:
    """Prepare one signature per document, for a token to sign in one PIN session."""
    body = _json()
    documents = body.get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise Invalid("'documents' must be a list of document ids")
    signer = _signer_input(body)
    batch, items, prepared = services().batches.prepare(
        current_actor(), documents, signer.kind, signer.certificate, signer.chain, origin(),
        position=signer.position, authority=signer.authority)
    return {"id": batch.id, "digest_algorithm": "sha256",
            **_batch_body(items, prepared)}, 201


@bp.post("/seal-batches")
def create_seal_batch() -> ResponseReturnValue:
    """Seal many documents with the server-held seals, one job each; progress as for any
    signing batch (GET /signing-batches/{id})."""
    documents = _json().get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise Invalid("'documents' must be a list of document ids")
    batch, items = services().batches.seal(current_actor(), documents)
    return {"id": batch.id, **_batch_body(items)}, 202


@bp.post("/signing-batches/<batch_id>/values")
def submit_batch_values(batch_id: str) -> ResponseReturnValue:
    """The token's values, by item id; each document is then completed by its own job."""
    values = _json().get("values")
    if not isinstance(values, dict):
        raise Invalid("'values' must map item ids to base64 signature values")
    try:
        decoded = {str(k): base64.b64decode(str(v), validate=True) for k, v in values.items()}
    except ValueError:
        raise Invalid("every value must be base64") from None
    items = services().batches.submit_values(current_actor(), batch_id, decoded)
    return {"id": batch_id, **_batch_body(items)}, 202


@bp.get("/signing-batches/<batch_id>")
def batch_progress(batch_id: str) -> ResponseReturnValue:
    return {"id": batch_id, **_batch_body(services().batches.items(current_actor(), batch_id))}


def _usernames(user_ids: list[str]) -> Callable[[str], str]:
    """Name people as requests do (usernames); an id nobody has any more stays an id."""
    found = services().identity.usernames(user_ids)
    return lambda user_id: found.get(user_id, user_id)


def _consultation(c: Consultation) -> dict[str, Any]:
    tally = c.tally()
    name = _usernames([c.asked_by, *c.participants, *(o.user_id for o in c.opinions)])
    return {"id": c.id, "document_id": c.document_id, "unit_code": c.unit_code,
            "asked_by": name(c.asked_by), "question": c.question,
            "participants": [name(p) for p in c.participants], "quorum": c.quorum,
            "deadline": c.deadline.isoformat() if c.deadline else None,
            "status": c.status.value, "workflow_version": c.workflow_version,
            "created_at": c.created_at.isoformat(),
            "opinions": [{"user_id": o.user_id, "username": name(o.user_id),
                          "answer": o.answer.value, "comment": o.comment,
                          "at": o.at.isoformat()} for o in c.opinions],
            "tally": {"agree": tally.agree, "disagree": tally.disagree, "other": tally.other,
                      "pending": tally.pending, "majority_agrees": tally.majority_agrees},
            "conclusion": c.conclusion, "concluded_by": c.concluded_by,
            "concluded_at": c.concluded_at.isoformat() if c.concluded_at else None}


def _quorum(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid("'quorum' must be a whole number")
    return value


@bp.post("/documents/<document_id>/consultations")
def ask_opinions(document_id: str) -> ResponseReturnValue:
    """Ask named people (usernames) for their opinion on a draft, by a deadline."""
    body = _json()
    consultation = services().consultations.ask(
        current_actor(), document_id, str(body.get("question", "")),
        _str_list(body.get("participants"), "participants", "usernames"), origin(),
        deadline=_date(body.get("deadline"), "deadline"), quorum=_quorum(body.get("quorum")))
    return _consultation(consultation), 201


@bp.get("/documents/<document_id>/consultations")
def list_consultations(document_id: str) -> ResponseReturnValue:
    found = services().consultations.for_document(current_actor(), document_id)
    return {"items": [_consultation(c) for c in found]}


@bp.get("/consultations/<consultation_id>")
def get_consultation(consultation_id: str) -> ResponseReturnValue:
    return _consultation(services().consultations.get(current_actor(), consultation_id))


@bp.post("/consultations/<consultation_id>/answers")
def answer_consultation(consultation_id: str) -> ResponseReturnValue:
    """The caller's opinion: agree, disagree or other, with a comment; once."""
    body = _json()
    consultation = services().consultations.answer(
        current_actor(), consultation_id, _enum(Answer, body.get("answer"), "answer"),
        str(body.get("comment", "")), origin())
    return _consultation(consultation), 201


@bp.post("/consultations/<consultation_id>/conclude")
def conclude_consultation(consultation_id: str) -> ResponseReturnValue:
    body = _json()
    consultation = services().consultations.conclude(
        current_actor(), consultation_id, str(body.get("conclusion", "")), origin(),
        reason=body.get("reason") or None)
    return _consultation(consultation)


@bp.post("/validations")
def create_validation() -> ResponseReturnValue:
    """Validate the signatures of an uploaded PDF against the configured trust anchors."""
    from docflow.signing.trust import load_anchors
    from docflow.signing.validation import validate_pdf

    current_actor()  # validation costs a child process: only for people who are logged in
    settings = services().settings
    stream = next(iter(request.files.values())).stream if request.files else request.stream
    with spool(stream, limit=settings.max_upload_bytes,  # type: ignore[arg-type]
               directory=settings.spool_dir) as spooled:
        data = spooled.path.read_bytes()
    report = validate_pdf(data, trust_roots=load_anchors(settings.trust_anchors))
    return {"sha256": spooled.sha256, **report.to_json()}


def _register_args() -> dict[str, Any]:
    number = request.args.get("number")
    if number is not None and not number.isdigit():
        raise Invalid("'number' must be a whole number")
    return {"number": int(number) if number else None,
            "from_date": _date(request.args.get("from"), "from"),
            "to_date": _date(request.args.get("to"), "to"),
            "limit": request.args.get("limit", 50, type=int),
            "before": request.args.get("before") or None}


@bp.get("/registers/outgoing")
def outgoing_register() -> ResponseReturnValue:
    """The outgoing register of the caller's units; `q` matches without diacritics."""
    args = _register_args()
    rows = services().queries.outgoing_register(current_actor(), request.args.get("q", ""),
                                                **args)
    return {"items": [serialize.plain(r) for r in rows],
            "next": serialize.cursor(rows[-1].issued_at, rows[-1].document_id)
            if len(rows) == page_size(args["limit"]) else None}


@bp.get("/registers/incoming")
def incoming_register() -> ResponseReturnValue:
    """The incoming register of the caller's units; `number` is the arrival number."""
    args = _register_args()
    rows = services().queries.incoming_register(current_actor(), request.args.get("q", ""),
                                                **args)
    return {"items": [serialize.plain(r) for r in rows],
            "next": serialize.cursor(rows[-1].registered_at, rows[-1].receipt_id)
            if len(rows) == page_size(args["limit"]) else None}


def _delegation(d: Delegation) -> dict[str, Any]:
    name = _usernames([d.grantor_id, d.grantee_id])
    return {"id": d.id, "unit_code": d.unit_code, "grantor": name(d.grantor_id),
            "grantee": name(d.grantee_id), "grantee_id": d.grantee_id,
            "authority": d.authority.value,
            "doc_types": sorted(d.doc_types), "valid_from": d.valid_from.isoformat(),
            "valid_to": d.valid_to.isoformat(), "reason": d.reason,
            "created_at": d.created_at.isoformat(),
            "revoked_at": d.revoked_at.isoformat() if d.revoked_at else None}


@bp.post("/delegations")
def grant_delegation() -> ResponseReturnValue:
    """A leader lets a person of the unit sign KT., Q., TL. or TUQ., in a scope and window."""
    body = _json()
    valid_from = _date(body.get("valid_from"), "valid_from")
    valid_to = _date(body.get("valid_to"), "valid_to")
    if valid_from is None or valid_to is None:
        raise Invalid("'valid_from' and 'valid_to' are required (YYYY-MM-DD)")
    made = services().delegations.grant(
        current_actor(), str(body.get("unit_code", "")), str(body.get("grantee", "")),
        _enum(Authority, body.get("authority"), "authority"), valid_from, valid_to,
        str(body.get("reason", "")), origin(),
        doc_types=_str_list(body.get("doc_types"), "doc_types", "document types"))
    return _delegation(made), 201


@bp.get("/delegations")
def list_delegations() -> ResponseReturnValue:
    found = services().delegations.for_unit(current_actor(), request.args.get("unit", ""))
    return {"items": [_delegation(d) for d in found]}


@bp.post("/delegations/<delegation_id>/revoke")
def revoke_delegation(delegation_id: str) -> ResponseReturnValue:
    return _delegation(services().delegations.revoke(current_actor(), delegation_id,
                                                     origin()))


def _report_request(r: ReportRequest) -> dict[str, Any]:
    return {"id": r.id, "unit_code": r.unit_code, "title": r.title, "details": r.details,
            "deadline": r.deadline.isoformat(), "status": r.status.value,
            "created_by": r.created_by, "created_at": r.created_at.isoformat(),
            "closed_at": r.closed_at.isoformat() if r.closed_at else None,
            "close_reason": r.close_reason,
            "submitted": sum(s.document_id is not None for s in r.submissions),
            "pending": r.pending(), "late": [s.unit_code for s in r.submissions if s.late],
            "submissions": [{"unit_code": s.unit_code, "document_id": s.document_id,
                             "submitted_at": s.submitted_at.isoformat()
                             if s.submitted_at else None, "late": s.late}
                            for s in r.submissions]}


@bp.post("/report-requests")
def request_reports() -> ResponseReturnValue:
    """A leader asks units below (`units`, or `level` under `under`) for a report."""
    body = _json()
    deadline = _date(body.get("deadline"), "deadline")
    if deadline is None:
        raise Invalid("'deadline' is required (YYYY-MM-DD)")
    made = services().reports.request(
        current_actor(), str(body.get("unit_code", "")), str(body.get("title", "")),
        str(body.get("details", "")), deadline, _target(body), origin())
    return _report_request(made), 201


@bp.get("/report-requests")
def list_report_requests() -> ResponseReturnValue:
    return {"items": [_report_request(r)
                      for r in services().reports.involving(current_actor())]}


@bp.get("/report-requests/<request_id>")
def get_report_request(request_id: str) -> ResponseReturnValue:
    return _report_request(services().reports.get(current_actor(), request_id))


@bp.get("/report-requests/<request_id>/compilation.pdf")
def compile_reports(request_id: str) -> ResponseReturnValue:
    """The requesting unit's compilation: summary table, then each report sent."""
    pdf = services().reports.compile(current_actor(), request_id, origin())
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": 'inline; filename="tong-hop-bao-cao.pdf"'})


@bp.post("/report-requests/<request_id>/submissions")
def submit_report(request_id: str) -> ResponseReturnValue:
    """An asked unit links the report it issued: {unit_code, document_id}."""
    body = _json()
    done = services().reports.submit(current_actor(), request_id,
                                     str(body.get("unit_code", "")),
                                     str(body.get("document_id", "")), origin())
    return _report_request(done), 201


@bp.post("/report-requests/<request_id>/<any(remind, extend, close, cancel):step>")
def report_request_step(request_id: str, step: str) -> ResponseReturnValue:
    body = _json() if request.content_length else {}
    reports, actor = services().reports, current_actor()
    if step == "remind":
        reports.remind(actor, request_id, origin())
    elif step == "extend":
        deadline = _date(body.get("deadline"), "deadline")
        if deadline is None:
            raise Invalid("'deadline' is required (YYYY-MM-DD)")
        reports.extend(actor, request_id, deadline, str(body.get("reason", "")), origin())
    else:
        reports.close(actor, request_id, origin(),
                      cancel_reason=str(body.get("reason", "")) if step == "cancel" else None)
    return _report_request(reports.get(actor, request_id))


@bp.get("/inbox")
def inbox() -> ResponseReturnValue:
    items = services().queries.inbox(current_actor(), request.args.get("status") or None,
                                     request.args.get("limit", 50, type=int),
                                     request.args.get("before"),
                                     overdue=request.args.get("overdue") in ("1", "true"))
    return {"items": [serialize.plain(i) for i in items]}


@bp.get("/receipts/<receipt_id>")
def get_receipt(receipt_id: str) -> ResponseReturnValue:
    return _receipt_body(receipt_id)


def _receipt_body(receipt_id: str) -> dict[str, Any]:
    """An entry with its actions, validation report, assignment and progress notes."""
    actor = current_actor()
    svc = services().documents
    r = svc.receipt(actor, receipt_id)
    body = serialize.receipt(r, svc.allowed_receipt_actions(actor, r))
    outcome = services().intake.report(actor, receipt_id)
    body["validation"] = None if outcome is None else {
        "verdict": outcome.verdict, "summary": outcome.summary(), "report": outcome.report}
    assignment, notes = services().handling.handling(actor, receipt_id)
    people = [*([assignment.lead_id, *assignment.coordinators, *assignment.informed,
                  assignment.assigned_by] if assignment else []), *(n.author_id for n in notes)]
    name = _usernames(people)
    body["assignment"] = None if assignment is None else {
        "id": assignment.id, "annotation": assignment.annotation,
        "lead": name(assignment.lead_id), "lead_id": assignment.lead_id,
        "coordinators": [name(i) for i in assignment.coordinators],
        "informed": [name(i) for i in assignment.informed],
        "deadline": assignment.deadline.isoformat(),
        "assigned_by": name(assignment.assigned_by),
        "assigned_at": assignment.assigned_at.isoformat(),
        "units": [{"unit_code": code, "as": role} for code, role in assignment.units]}
    body["progress"] = [{"author": name(n.author_id), "text": n.text, "at": n.at.isoformat()}
                        for n in notes]
    body["duplicates"] = [serialize.duplicate(d) for d in svc.duplicates(actor, receipt_id)]
    return body


@bp.post("/incoming")
def receive_external() -> ResponseReturnValue:
    """A document from outside docflow (scan, e-mail, another system): multipart with
    `metadata` (JSON) and `file` (the PDF). Answers the new entry, with any registered
    entries it looks like (a warning)."""
    raw = request.form.get("metadata")
    upload = request.files.get("file")
    if raw is None or upload is None:
        raise Invalid("send multipart/form-data with a 'metadata' JSON field and a 'file'")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Invalid(f"metadata is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Invalid("metadata is a JSON object")
    issued_on = _date(body.get("issued_on"), "issued_on")
    if issued_on is None:
        raise Invalid("issued_on (the document's date) is required")
    spec = ExternalSpec(
        doc_type=str(body.get("type", "")), abstract=str(body.get("abstract", "")),
        issuer_name=str(body.get("issuer", "")), issued_on=issued_on,
        channel=_enum(Channel, body.get("channel", "paper"), "channel"),
        symbol=str(body.get("symbol") or "") or None,
        issuer_code=str(body.get("issuer_code") or "") or None,
        urgency=_enum(Urgency, body.get("urgency", "normal"), "urgency"),
        confidentiality=_enum(Confidentiality, body.get("confidentiality", "normal"),
                              "confidentiality"),
        reply_due=_date(body.get("reply_due"), "reply_due"))
    unit = body.get("unit_code")
    actor = current_actor()
    svc = services().documents
    receipt, found = svc.receive_external(actor, spec, upload.filename or "document.pdf",
                                          cast(BinaryIO, upload.stream), origin(),
                                          unit_code=str(unit) if unit else None)
    out = serialize.receipt(receipt, svc.allowed_receipt_actions(actor, receipt))
    out["duplicates"] = [serialize.duplicate(d) for d in found]
    return out, 201, {"Location": f"/api/v1/receipts/{receipt.id}"}


@bp.post("/receipts/<receipt_id>/<any(register, complete, return):action>")
def receive(receipt_id: str, action: str) -> ResponseReturnValue:
    actor = current_actor()
    svc = services().documents
    if action == "return":
        body = _json()
        reason = str(body.get("reason", ""))
        if body.get("cite_report"):
            r = services().intake.return_with_report(actor, receipt_id, reason, origin())
        else:
            r = svc.return_receipt(actor, receipt_id, reason, origin())
    elif action == "register":
        r = svc.register_receipt(actor, receipt_id, origin())
    else:
        result = request.get_json(silent=True) or {}
        r = svc.complete_receipt(actor, receipt_id, origin(),
                                 result_document_id=result.get("result_document_id") or None)
    return serialize.receipt(r, svc.allowed_receipt_actions(actor, r))


@bp.post("/documents/<document_id>/recall")
def recall_document(document_id: str) -> ResponseReturnValue:
    """The sender asks every recipient for the document back, with the reason."""
    asked = services().documents.recall(current_actor(), document_id,
                                        str(_json().get("reason", "")), origin())
    return {"document_id": document_id, "copies_asked": asked}


@bp.post("/receipts/<receipt_id>/recall")
def answer_recall(receipt_id: str) -> ResponseReturnValue:
    """The recipient's answer to a recall: {"agree": true}, or false with a reason."""
    body = _json()
    if not isinstance(body.get("agree"), bool):
        raise Invalid("'agree' must be true or false")
    services().documents.answer_recall(current_actor(), receipt_id, body["agree"], origin(),
                                       reason=body.get("reason") or None)
    return _receipt_body(receipt_id)


@bp.post("/receipts/<receipt_id>/assign")
def assign_receipt(receipt_id: str) -> ResponseReturnValue:
    """The leader's annotation and assignment: lead, coordinators, informed (usernames),
    deadline (a date, or `working_days` from today on the holiday calendar)."""
    body = _json()
    deadline = _date(body.get("deadline"), "deadline")
    days = body.get("working_days")
    if deadline is None and days is not None:
        if not isinstance(days, int) or isinstance(days, bool):
            raise Invalid("'working_days' is a whole number")
        deadline = services().handling.deadline_in(days)
    if deadline is None:
        raise Invalid("'deadline' (YYYY-MM-DD) or 'working_days' is required")
    actor = current_actor()
    services().handling.assign(
        actor, receipt_id, str(body.get("annotation", "")), str(body.get("lead", "")),
        deadline, origin(),
        coordinators=_str_list(body.get("coordinators"), "coordinators", "usernames"),
        informed=_str_list(body.get("informed"), "informed", "usernames"),
        coordinator_units=_str_list(body.get("coordinator_units"), "coordinator_units"),
        informed_units=_str_list(body.get("informed_units"), "informed_units"))
    return _receipt_body(receipt_id), 201


@bp.post("/receipts/<receipt_id>/progress")
def report_progress(receipt_id: str) -> ResponseReturnValue:
    """The lead's progress note."""
    services().handling.progress(current_actor(), receipt_id, str(_json().get("text", "")),
                                 origin())
    return _receipt_body(receipt_id), 201


@bp.post("/receipts/<receipt_id>/extend")
def extend_deadline(receipt_id: str) -> ResponseReturnValue:
    body = _json()
    deadline = _date(body.get("deadline"), "deadline")
    if deadline is None:
        raise Invalid("'deadline' is required (YYYY-MM-DD)")
    services().handling.extend(current_actor(), receipt_id, deadline,
                               str(body.get("reason", "")), origin())
    return _receipt_body(receipt_id)


@bp.get("/notifications")
def list_notifications() -> ResponseReturnValue:
    """The caller's notifications, newest first (`?unread=1`: only unread), with the count of
    unread ones."""
    actor = current_actor()
    svc = services().notifications
    limit = request.args.get("limit", 50, type=int)
    items = svc.list(actor, unread=request.args.get("unread") in ("1", "true"), limit=limit,
                     before=request.args.get("before"))
    return {"items": [serialize.notice(n) for n in items], "unread": svc.unread(actor),
            "next": serialize.cursor(items[-1].created_at, items[-1].id)
            if len(items) == page_size(limit) else None}


@bp.post("/notifications/read")
def read_notifications() -> ResponseReturnValue:
    """Mark notifications read: {"ids": [...]}, or all of them with no ids."""
    body = _json() if request.data else {}
    ids = body.get("ids")
    chosen = None if ids is None else _str_list(ids, "ids")
    marked = services().notifications.mark_read(current_actor(), chosen)
    return {"marked": marked}


@bp.post("/units/merge")
def merge_units() -> ResponseReturnValue:
    """An admin above them merges units into a successor: {"units": [...], "into": CODE,
    "on": "YYYY-MM-DD"} (default today)."""
    body = _json()
    on = _date(body.get("on"), "on") or services().clock.now().astimezone(
        ZoneInfo(services().settings.timezone)).date()
    report = services().mergers.merge(_str_list(body.get("units"), "units"),
                                      str(body.get("into", "")), on, origin(),
                                      by=current_actor())
    return {"merged": report.merged, "into": report.into, "on": on.isoformat(),
            "children_moved": report.children_moved, "roles_copied": report.roles_copied,
            "drafts_moved": report.drafts_moved, "reports_moved": report.reports_moved}


@bp.post("/documents/<document_id>/updates")
def update_document(document_id: str) -> ResponseReturnValue:
    """Update an issued document's particulars: {"reason", "reply_due"?, "abstract"?}."""
    body = _json()
    abstract = body.get("abstract")
    made = services().documents.update_issued(
        current_actor(), document_id, str(body.get("reason", "")), origin(),
        reply_due=_date(body.get("reply_due"), "reply_due"),
        abstract=str(abstract) if abstract is not None else None)
    return serialize.document_update(made), 201


@bp.get("/documents/<document_id>/updates")
def document_updates(document_id: str) -> ResponseReturnValue:
    return {"items": [serialize.document_update(u) for u in
                      services().documents.updates(current_actor(), document_id)]}

