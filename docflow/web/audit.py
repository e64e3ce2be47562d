"""The auditors' API under /api/v1/audit: the trail (JSON or CSV), proofs, signed tree heads,
the log's public key and audit bundles. Every query is itself recorded."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from docflow import auditbundle
from docflow.domain.audit import HASHED, AuditFilter, TreeHead
from docflow.domain.errors import Invalid
from docflow.services.audit import Selection, auditor_scope
from docflow.services.evidence import Statement
from docflow.services.paging import page_size
from docflow.signing.logkey import key_id_of
from docflow.web.auth import current_actor, origin, services

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")

CSV_COLUMNS = ("id", "leaf", "at", "action", "actor", "authority", "unit_code",
               "object_type", "object_id", "document_id", "via", "client_addr", "user_agent",
               "details", "chain", "seq", "prev", "hash")


def _moment(value: str | None, field: str, *, end: bool) -> datetime | None:
    """An ISO time, or a date in the organisation's time zone (an end date counts its whole
    day)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"'{field}' must be a date or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(services().settings.timezone))
    if end and len(value) == 10:
        moment += timedelta(days=1)
    return moment


def trail_filter() -> AuditFilter:
    args = request.args
    actor_id = None
    if args.get("actor"):
        person = services().identity.actor_by_username(args["actor"])
        if person is None:
            raise Invalid(f"no user {args['actor']}")
        actor_id = person.id
    under = services().audit.unit_path(current_actor(), args["unit"]) if args.get(
        "unit") else None
    actions = tuple(a for a in args.get("action", "").split(",") if a)
    return AuditFilter(scope=None, document_id=args.get("document") or None,
                       actor_id=actor_id, under=under, actions=actions,
                       since=_moment(args.get("from"), "from", end=False),
                       until=_moment(args.get("to"), "to", end=True))


def _usernames(records: list[dict[str, Any]]) -> dict[str, str]:
    ids = {r["actor_id"] for r in records if r.get("actor_id")}
    return services().identity.usernames(ids) if ids else {}


@bp.get("/events")
def events() -> ResponseReturnValue:
    """The trail within the caller's audited units, oldest first: filter by `document`,
    `actor` (username), `unit` (and below), `action` (comma-separated), `from`, `to`; page
    with `after` (the last id seen). `format=csv` (or Accept: text/csv): every match, as a
    CSV file."""
    actor = current_actor()
    query = trail_filter()
    wants_csv = request.args.get("format") == "csv" or (
        request.accept_mimetypes.best == "text/csv")
    if wants_csv:
        return _csv(services().audit.all_events(actor, query, origin()))
    after = request.args.get("after")
    if after is not None and not after.isdigit():
        raise Invalid("'after' must be an event id")
    limit = page_size(request.args.get("limit", 100, type=int))
    found = services().audit.events(actor, query, origin(),
                                    after=int(after) if after else None, limit=limit)
    names = _usernames(found)
    return {"items": [{**r, "actor": names.get(r["actor_id"] or "")} for r in found],
            "next": found[-1]["id"] if len(found) == limit else None}


def _csv(records: list[dict[str, Any]]) -> Response:
    names = _usernames(records)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        row = {**r, "actor": names.get(r["actor_id"] or "", r["actor_id"] or ""),
               "details": json.dumps(r["details"], ensure_ascii=False, sort_keys=True)}
        writer.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])
    # A BOM so that spreadsheet programs read the Vietnamese text as UTF-8.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="audit-events.csv"'})


@bp.get("/events/<event_id>/proof")
def inclusion_proof(event_id: str) -> ResponseReturnValue:
    """That the event is in the log: its leaf, the audit path, and the signed head of that
    size (the latest by default; `tree_size` for another)."""
    if not event_id.isdigit():
        raise Invalid("an event id is a whole number")
    size = request.args.get("tree_size", type=int)
    leaf, tree_size, path, head = services().audit.inclusion(current_actor(), int(event_id),
                                                             size)
    return {"event_id": int(event_id), "leaf_index": leaf, "tree_size": tree_size,
            "path": [p.hex() for p in path], "tree_head": head.as_json() if head else None,
            "hashed_fields": list(HASHED)}


@bp.get("/consistency")
def consistency_proof() -> ResponseReturnValue:
    """That the log of `second` leaves extends the log of `first` leaves."""
    current_actor()
    first = request.args.get("first", type=int)
    second = request.args.get("second", type=int)
    if first is None or second is None:
        raise Invalid("give 'first' and 'second' tree sizes")
    path = services().audit.consistency(first, second)
    return {"first": first, "second": second, "path": [p.hex() for p in path]}


@bp.get("/tree-heads")
def tree_heads() -> ResponseReturnValue:
    """Signed tree heads, oldest first, from `since_size`."""
    current_actor()
    heads = services().audit.heads(request.args.get("since_size", 0, type=int),
                                   page_size(request.args.get("limit", 100, type=int)))
    return {"items": [h.as_json() for h in heads]}


@bp.get("/tree-heads/latest")
def latest_tree_head() -> ResponseReturnValue:
    current_actor()
    return services().audit.latest_head().as_json()


@bp.post("/tree-heads")
def new_tree_head() -> ResponseReturnValue:
    """Sequence what is committed and sign a head now (an auditor pins what they get)."""
    auditor_scope(current_actor())
    return services().audit.issue_tree_head(force=True).as_json(), 201


@bp.get("/log-key")
def log_key() -> ResponseReturnValue:
    """The log's public key (PEM); its fingerprint in the X-Key-Fingerprint header. Pin it
    from a channel other than this one."""
    pem = services().audit.public_key_pem
    return Response(pem, mimetype="application/x-pem-file",
                    headers={"X-Key-Fingerprint": key_id_of(pem).hex()})


@bp.post("/exports")
def export() -> ResponseReturnValue:
    """An audit bundle (zip) for {"document"} | {"unit"} | {"from", "to"}, within the caller's
    units; "known": tree heads you hold, which the bundle proves the log extends."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("send a JSON object: {document} | {unit} | {from, to}, and known heads")
    try:
        known = [TreeHead.from_json(h) for h in body.get("known") or []]
    except (KeyError, ValueError, TypeError, AttributeError):
        raise Invalid("'known' must be a list of tree heads as the API gives them") from None
    selection = Selection(document_id=body.get("document") or None,
                          unit_code=body.get("unit") or None,
                          since=_moment(body.get("from"), "from", end=False),
                          until=_moment(body.get("to"), "to", end=True))
    bundle = services().audit.export(selection, actor=current_actor(), origin=origin(),
                                     known=known)
    out = io.BytesIO()
    auditbundle.write(bundle, out)
    return Response(out.getvalue(), mimetype="application/zip", headers={
        "Content-Disposition": 'attachment; filename="audit-bundle.zip"'})


# --- the witness: this docflow keeps its child units' tree heads ------------------------------

def _log_id(value: str) -> bytes:
    try:
        log_id = bytes.fromhex(value)
    except ValueError:
        log_id = b""
    if len(log_id) != 32:
        raise Invalid("a log id is the 64 hex digits of its key's SHA-256")
    return log_id


@bp.post("/witness")
def witness_receive() -> ResponseReturnValue:
    """A child unit's docflow hands over its newest signed tree head with the proof that it
    extends the one held here: {"head", "proof": [hex]}. No login: the log's own key
    authenticates the head. 409 when it forks or rolls back the log (kept as evidence)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("proof", []), list):
        raise Invalid("send {head, proof}: a tree head as the audit API gives it, and a list "
                      "of hex hashes")
    try:
        head = TreeHead.from_json(body["head"])
        proof = [bytes.fromhex(p) for p in body.get("proof", [])]
    except (KeyError, ValueError, TypeError, AttributeError):
        raise Invalid("'head' must be a tree head as the audit API gives it") from None
    verdict = services().witness.receive(head, proof, origin())
    return {"verdict": verdict.value}, 201


@bp.get("/witness/<log_id>")
def witness_latest(log_id: str) -> ResponseReturnValue:
    """The newest head of a child log held as consistent (public: heads are not secret)."""
    return services().witness.latest(_log_id(log_id)).as_json()


@bp.get("/witness/<log_id>/heads")
def witness_heads(log_id: str) -> ResponseReturnValue:
    """Every head of a child log received here, newest first, with the verdict on each."""
    found = services().witness.heads(_log_id(log_id),
                                     page_size(request.args.get("limit", 100, type=int)))
    return {"items": [{**w.head.as_json(), "verdict": w.verdict.value,
                       "received_at": w.received_at.isoformat()} for w in found]}


# --- signed outputs -----------------------------------------------------------------------------

@bp.get("/documents/<document_id>/evidence.pdf")
def evidence_pack(document_id: str) -> ResponseReturnValue:
    """An auditor's evidence pack for one document: particulars, signature validation, the
    whole trail with each event's inclusion proof; the file and the audit bundle embedded;
    signed with the seal of the auditor's unit."""
    pdf = services().evidence.evidence_pack(current_actor(), document_id, origin())
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="ho-so-chung-cu.pdf"'})


@bp.get("/statements/<kind>")
def statement(kind: str) -> ResponseReturnValue:
    """A unit's register or processing report for a period, signed by the unit:
    `outgoing-register`, `incoming-register`, `outgoing-report`, `incoming-report`;
    ?unit=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD (both days included)."""
    try:
        chosen = Statement(kind)
    except ValueError:
        raise Invalid("a statement is one of: " + ", ".join(s.value for s in Statement)
                      ) from None
    args = request.args
    try:
        start = date.fromisoformat(args.get("from", ""))
        end = date.fromisoformat(args.get("to", ""))
    except ValueError:
        raise Invalid("give the period as from=YYYY-MM-DD&to=YYYY-MM-DD") from None
    pdf = services().evidence.statement(current_actor(), chosen, args.get("unit", ""),
                                        start, end, origin())
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{chosen.value}.pdf"'})
