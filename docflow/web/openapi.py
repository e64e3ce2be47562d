"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from docflow import __version__
from docflow.domain.documents import CATALOGUE, Confidentiality, Urgency
from docflow.domain.routing import ReceiptStatus


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


PROBLEM = {"content": {"application/problem+json": {"schema": _ref("Problem")}}}
ERRORS = {str(code): {"description": text, **PROBLEM} for code, text in (
    (401, "Not authenticated"), (403, "The role does not allow this action"),
    (404, "No such object, or not visible to the caller"),
    (409, "The action does not fit the current state"), (422, "The input breaks a rule"))}


def _op(summary: str, ok: int, schema: dict[str, Any] | None, *, body: dict[str, Any] | None
        = None, params: list[dict[str, Any]] | None = None, tag: str = "documents"
        ) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary, "tags": [tag],
        "responses": {str(ok): {"description": "OK", **(_json(schema) if schema else {})},
                      **ERRORS},
    }
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


PDF_BODY = {"content": {"application/pdf": {"schema": {"type": "string",
                                                        "contentMediaType": "application/pdf"}},
                        "multipart/form-data": {"schema": {"type": "object", "properties": {
                            "file": {"type": "string", "contentMediaType": "application/pdf"}}}}}}
REASON = _json({"type": "object", "required": ["reason"],
                "properties": {"reason": {"type": "string", "minLength": 1},
                               "cite_report": {"type": "boolean", "description":
                                               "append the signature validation verdict"}}})


def openapi_document() -> dict[str, Any]:
    """The whole document; tests check that every API route is described."""
    doc_id, rev_id, rcpt_id = (_path_param("document_id"), _path_param("revision_id"),
                               _path_param("receipt_id"))
    paging = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
              _query("before", {"type": "string", "description": "cursor from the last item"})]
    return {
        "openapi": "3.1.0",
        "info": {"title": "docflow API", "version": __version__,
                 "description": "Drafting, approval, issue, dispatch and registration of "
                                "administrative documents (Decree 30/2020/ND-CP)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/session": {
                "post": _op("Log in with username and password (sets the session cookie)", 200,
                            {"type": "object"}, tag="identity", body=_json(
                                {"type": "object", "required": ["username", "password"],
                                 "properties": {"username": {"type": "string"},
                                                "password": {"type": "string"}}})),
                "delete": _op("Log out", 204, None, tag="identity"),
            },
            "/me": {"get": _op("The caller, with roles per unit", 200, _ref("Actor"),
                               tag="identity")},
            "/tokens": {"post": _op("Create an API token (shown once)", 201, {
                "type": "object", "properties": {"token": {"type": "string"}}}, tag="identity",
                body=_json({"type": "object", "properties": {"name": {"type": "string"}}}))},
            "/documents": {
                "post": _op("Draft a document", 201, _ref("Document"),
                            body=_json(_ref("DraftSpec"))),
                "get": _op("Documents drafted by the caller's units", 200,
                           {"type": "object", "properties": {"items": {"type": "array"}}},
                           params=paging),
            },
            "/documents/{document_id}": {"get": _op(
                "A document (the view is audited)", 200, _ref("Document"), params=[doc_id])},
            "/documents/{document_id}/main": {"put": _op(
                "Upload the main PDF (streamed)", 201, _ref("Revision"), body=PDF_BODY,
                params=[doc_id, _query("filename", {"type": "string"})])},
            "/documents/{document_id}/attachments": {"post": _op(
                "Upload an attachment PDF (streamed)", 201, _ref("Revision"), body=PDF_BODY,
                params=[doc_id, _query("filename", {"type": "string"})])},
            "/documents/{document_id}/revisions/{revision_id}/content": {"get": {
                **_op("Download a file (audited): the PDF, or a redirect to a presigned URL",
                      200, None, params=[doc_id, rev_id, _query("inline", {"enum": ["1"]})]),
                "responses": {"200": {"description": "The PDF",
                                      "content": {"application/pdf": {}}},
                              "302": {"description": "Presigned URL"}, **ERRORS}}},
            **{f"/documents/{{document_id}}/{step}": {"post": _op(
                summary, 200, _ref("Document"), params=[doc_id])} for step, summary in (
                ("submit", "Send the draft for review (outgoing v2; v1: for approval)"),
                ("pass", "Reviewed: on to the signing leader (a leader)"),
                ("approve", "Approve (a leader of the drafting unit)"),
                ("number", "Form checked: give the signed document its number (the clerk); "
                           "the organisation's seal then issues it"),
                ("issue", "Outgoing v1 only: number and issue (the clerk)"))},
            "/documents/{document_id}/return": {"post": _op(
                "Return to the drafter with a reason (a leader during review and approval; "
                "the clerk when the form of the signed document is wrong)", 200,
                _ref("Document"), body=REASON, params=[doc_id])},
            "/documents/{document_id}/release": {"post": _op(
                "Cancel a numbered document before its seal, with a reason: the number goes "
                "back to the next issue", 200, _ref("Document"), body=REASON,
                params=[doc_id])},
            "/documents/{document_id}/comments": {"post": _op(
                "Comment on a draft under review", 201, _ref("Document"),
                body=_json({"type": "object", "required": ["text"],
                            "properties": {"text": {"type": "string"}}}),
                params=[doc_id])},
            "/documents/{document_id}/review": {"get": _op(
                "The review rounds: submissions, comments, returns with reasons, approval",
                200, {"type": "object", "properties": {"items": {"type": "array"}}},
                params=[doc_id])},
            "/documents/{document_id}/dispatches": {"post": _op(
                "Dispatch the issued document to units, or to every unit of a level under a "
                "unit; the incoming entries are created by a background job", 202,
                _ref("Dispatch"), params=[doc_id], body=_json(_ref("DispatchTarget")))},
            "/documents/{document_id}/recipients": {"get": _op(
                "Per-recipient status", 200, {"type": "object", "properties": {
                    "counts": {"type": "object"}, "total": {"type": "integer"},
                    "items": {"type": "array"}}}, params=[doc_id])},
            "/documents/{document_id}/signing-sessions": {"post": _op(
                "Prepare a signature whose key is on a token or a remote service: returns the "
                "data to be signed (expires)", 201, {"type": "object"}, tag="signatures",
                params=[doc_id], body=_json({"type": "object", "required": ["kind",
                                                                             "certificate"],
                    "properties": {"kind": {"enum": ["initial", "leader", "seal",
                                                     "attachment"]},
                                   "certificate": {"type": "string"},
                                   "chain": {"type": "array", "items": {"type": "string"}},
                                   "position": {"type": "string"},
                                   "authority": {"enum": ["TM.", "Q.", "KT.", "TL.", "TUQ."]},
                                   "revision_id": {"type": "string"}}}))},
            "/documents/{document_id}/seal": {"post": _op(
                "The organisation's signature with the seal the server holds for the "
                "document's unit (PKCS#12 or HSM, DOCFLOW_SEAL_KEYS): on the main file, or on "
                "the attachment revision_id names", 201, {"type": "object"}, tag="signatures",
                params=[doc_id], body=_json({"type": "object", "properties": {
                    "revision_id": {"type": "string"}}}))},
            "/seal-batches": {"post": _op(
                "Seal many documents with the server-held seals, one job each; progress at "
                "/signing-batches/{batch_id}", 202, {"type": "object"}, tag="signatures",
                body=_json({"type": "object", "required": ["documents"], "properties": {
                    "documents": {"type": "array", "items": {"type": "string"}}}}))},
            "/signing-sessions/{session_id}": {"post": _op(
                "Complete a prepared signature with the device's signature value", 201,
                {"type": "object"}, tag="signatures", params=[_path_param("session_id")],
                body=_json({"type": "object", "required": ["signature_value"],
                            "properties": {"signature_value": {"type": "string"}}}))},
            "/signing-batches": {"post": _op(
                "Batch signing: prepare one signature per document for one token session",
                201, {"type": "object"}, tag="signatures", body=_json({
                    "type": "object", "required": ["documents", "kind", "certificate"],
                    "properties": {"documents": {"type": "array", "items": {"type": "string"}},
                                   "kind": {"enum": ["initial", "leader", "seal"]},
                                   "certificate": {"type": "string"},
                                   "chain": {"type": "array", "items": {"type": "string"}},
                                   "position": {"type": "string"},
                                   "authority": {"enum": ["TM.", "Q.", "KT.", "TL.",
                                                          "TUQ."]}}}))},
            "/signing-batches/{batch_id}": {"get": _op(
                "A batch's progress: each document's status and error", 200,
                {"type": "object"}, tag="signatures", params=[_path_param("batch_id")])},
            "/signing-batches/{batch_id}/values": {"post": _op(
                "The token's signature values by item id; one job per document", 202,
                {"type": "object"}, tag="signatures", params=[_path_param("batch_id")],
                body=_json({"type": "object", "required": ["values"], "properties": {
                    "values": {"type": "object",
                               "additionalProperties": {"type": "string"}}}}))},
            "/documents/{document_id}/cascade": {"get": _op(
                "The cascade's roll-up: per level, entries arrived, registered, done, returned "
                "and overdue; the entries a unit passed down (default: those the issuer sent), "
                "each with its subtree's counts", 200,
                {"type": "object", "properties": {
                    "levels": {"type": "array", "items": {"type": "object"}},
                    "parent": {"type": ["string", "null"]},
                    "children": {"type": "array", "items": {"type": "object"}}}},
                params=[doc_id, _query("unit", {"type": "string"})])},
            "/documents/{document_id}/recall": {"post": _op(
                "Recall a dispatched document: every recipient's copy is asked back (edXML 13) "
                "and frozen until its unit answers", 200, {"type": "object"},
                params=[doc_id], body=REASON)},
            "/receipts/{receipt_id}/recall": {"post": _op(
                "Answer a recall: agree (15, the copy is withdrawn) or refuse (16, with a "
                "reason)", 200, {"type": "object"}, tag="receipts",
                params=[_path_param("receipt_id")], body=_json({
                    "type": "object", "required": ["agree"], "properties": {
                        "agree": {"type": "boolean"}, "reason": {"type": "string"}}}))},
            "/receipts/{receipt_id}/assign": {"post": _op(
                "The leader annotates and assigns: one lead, coordinators, people informed "
                "(usernames of the unit), a deadline: a date, or a number of working days "
                "counted on the holiday calendar; again to reassign", 201, {"type": "object"},
                tag="receipts", params=[_path_param("receipt_id")], body=_json({
                    "type": "object", "required": ["annotation", "lead"],
                    "properties": {"annotation": {"type": "string", "minLength": 1},
                                   "lead": {"type": "string"},
                                   "coordinators": {"type": "array",
                                                    "items": {"type": "string"}},
                                   "informed": {"type": "array", "items": {"type": "string"}},
                                   "coordinator_units": {
                                       "type": "array", "items": {"type": "string"},
                                       "description": "sub-units that coordinate: the "
                                                      "document is passed down to them, due "
                                                      "on the deadline"},
                                   "informed_units": {"type": "array",
                                                      "items": {"type": "string"}},
                                   "deadline": {"type": "string", "format": "date"},
                                   "working_days": {"type": "integer", "minimum": 1,
                                                    "maximum": 366}}}))},
            "/receipts/{receipt_id}/progress": {"post": _op(
                "The lead's progress note (status 05 processing)", 201, {"type": "object"},
                tag="receipts", params=[_path_param("receipt_id")], body=_json({
                    "type": "object", "required": ["text"],
                    "properties": {"text": {"type": "string", "minLength": 1}}}))},
            "/receipts/{receipt_id}/extend": {"post": _op(
                "A later deadline, with the reason (the leader)", 200, {"type": "object"},
                tag="receipts", params=[_path_param("receipt_id")], body=_json({
                    "type": "object", "required": ["deadline", "reason"],
                    "properties": {"deadline": {"type": "string", "format": "date"},
                                   "reason": {"type": "string", "minLength": 1}}}))},
            "/receipts/{receipt_id}/forward": {"post": _op(
                "Pass a registered incoming document down to the unit's own sub-units "
                "(cascade); a background job creates their entries", 202, _ref("Dispatch"),
                tag="receipts", params=[_path_param("receipt_id")],
                body=_json(_ref("DispatchTarget")))},
            "/documents/{document_id}/consultations": {
                "post": _op("Ask named people for their opinion on a draft (xin ý kiến)", 201,
                            _ref("Consultation"), tag="consultations", params=[doc_id],
                            body=_json({"type": "object", "required": ["question",
                                                                       "participants"],
                                        "properties": {
                                            "question": {"type": "string", "minLength": 1},
                                            "participants": {"type": "array",
                                                             "items": {"type": "string"},
                                                             "description": "usernames"},
                                            "deadline": {"type": "string",
                                                         "format": "date"},
                                            "quorum": {"type": "integer", "minimum": 1,
                                                       "description": "answers that "
                                                       "complete it; default: all"}}})),
                "get": _op("The consultations on a document", 200, {
                    "type": "object", "properties": {"items": {
                        "type": "array", "items": _ref("Consultation")}}},
                    tag="consultations", params=[doc_id])},
            "/consultations/{consultation_id}": {"get": _op(
                "A consultation: the people asked, their opinions, the tally, the conclusion",
                200, _ref("Consultation"), tag="consultations",
                params=[_path_param("consultation_id")])},
            "/consultations/{consultation_id}/answers": {"post": _op(
                "The caller's opinion, once: agree, disagree or other (with a comment)", 201,
                _ref("Consultation"), tag="consultations",
                params=[_path_param("consultation_id")],
                body=_json({"type": "object", "required": ["answer"], "properties": {
                    "answer": {"enum": ["agree", "disagree", "other"]},
                    "comment": {"type": "string"}}}))},
            "/consultations/{consultation_id}/conclude": {"post": _op(
                "Conclude (before everyone answered only with a reason)", 200,
                _ref("Consultation"), tag="consultations",
                params=[_path_param("consultation_id")],
                body=_json({"type": "object", "required": ["conclusion"], "properties": {
                    "conclusion": {"type": "string", "minLength": 1},
                    "reason": {"type": "string"}}}))},
            "/validations": {"post": _op(
                "Validate the signatures of a PDF (ETSI EN 319 102-1 report)", 200,
                _ref("ValidationReport"), tag="signatures", body=PDF_BODY)},
            **{f"/registers/{which}": {"get": _op(
                f"The {which} register of the caller's units, newest first: `q` (words, "
                "without diacritics: 'chi thi' finds 'Chỉ thị'; matched in the type, number "
                "and symbol, abstract" + (" and issuer" if which == "incoming" else "") + "), "
                + ("`number`, `from`/`to` (issue dates)" if which == "outgoing" else
                   "`number` (arrival number), `from`/`to` (arrival dates)")
                + "; `next` continues the list (as `before`)", 200, {
                    "type": "object", "properties": {
                        "items": {"type": "array", "items": {"type": "object"}},
                        "next": {"type": ["string", "null"]}}},
                tag="registers", params=[
                    _query("q", {"type": "string"}), _query("number", {"type": "integer"}),
                    _query("from", {"type": "string", "format": "date"}),
                    _query("to", {"type": "string", "format": "date"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _query("before", {"type": "string"})])} for which in ("outgoing",
                                                                           "incoming")},
            "/report-requests": {
                "post": _op("A leader asks units below for a report by a deadline: `units`, or "
                            "`level` under `under`", 201, {"type": "object"},
                            tag="reports", body=_json({"type": "object", "required": [
                                "unit_code", "title", "deadline"], "properties": {
                                "unit_code": {"type": "string"}, "title": {"type": "string"},
                                "details": {"type": "string"},
                                "deadline": {"type": "string", "format": "date"},
                                "units": {"type": "array", "items": {"type": "string"}},
                                "level": {"type": "string"}, "under": {"type": "string"}}})),
                "get": _op("Requests the caller's units made or were asked", 200,
                           {"type": "object"}, tag="reports")},
            "/report-requests/{request_id}": {"get": _op(
                "A request: who has submitted, who has not, who was late", 200,
                {"type": "object"}, tag="reports", params=[_path_param("request_id")])},
            "/report-requests/{request_id}/submissions": {"post": _op(
                "An asked unit links the report it issued", 201, {"type": "object"},
                tag="reports", params=[_path_param("request_id")], body=_json({
                    "type": "object", "required": ["unit_code", "document_id"],
                    "properties": {"unit_code": {"type": "string"},
                                   "document_id": {"type": "string"}}}))},
            **{f"/report-requests/{{request_id}}/{step}": {"post": _op(
                summary, 200, {"type": "object"}, tag="reports",
                params=[_path_param("request_id")])} for step, summary in (
                ("remind", "Record a reminder to the units that have not submitted"),
                ("extend", "A later deadline, with the reason: {deadline, reason}"),
                ("close", "Close the collection"),
                ("cancel", "Cancel the request, with the reason: {reason}"))},
            "/delegations": {
                "post": _op("A leader grants signing authority (KT., Q., TL., TUQ.) to a person "
                            "of the unit, for document types and a window; an authorisation "
                            "is never passed on", 201, {"type": "object"}, tag="delegations",
                            body=_json({"type": "object", "required": [
                                "unit_code", "grantee", "authority", "valid_from", "valid_to",
                                "reason"], "properties": {
                                "unit_code": {"type": "string"}, "grantee": {"type": "string"},
                                "authority": {"enum": ["KT.", "Q.", "TL.", "TUQ."]},
                                "doc_types": {"type": "array", "items": {"type": "string"}},
                                "valid_from": {"type": "string", "format": "date"},
                                "valid_to": {"type": "string", "format": "date"},
                                "reason": {"type": "string", "minLength": 1}}})),
                "get": _op("A unit's delegations", 200, {"type": "object"},
                           tag="delegations", params=[_query("unit", {"type": "string"})])},
            "/delegations/{delegation_id}/revoke": {"post": _op(
                "Withdraw a delegation", 200, {"type": "object"}, tag="delegations",
                params=[_path_param("delegation_id")])},
            "/inbox": {"get": _op("Incoming entries of the caller's units", 200, {
                "type": "object", "properties": {"items": {"type": "array"}}}, tag="receipts",
                params=[_query("status", {"enum": [s.value for s in ReceiptStatus]}),
                        _query("overdue", {"type": "boolean", "description":
                                           "only entries past their handling deadline and "
                                           "not finished"}),
                        *paging])},
            "/receipts/{receipt_id}": {"get": _op(
                "An incoming entry, with its validation report, assignment, progress and the "
                "registered entries it looks like (`duplicates`: same identifier, or same "
                "number, symbol and issuer)", 200, _ref("Receipt"), tag="receipts",
                params=[rcpt_id])},
            "/documents/{document_id}/updates": {
                "post": _op("Update an issued document's particulars (reply date, a corrected "
                            "abstract) with a reason; the units holding it are told", 201,
                            {"type": "object"}, params=[doc_id], body=_json({
                                "type": "object", "required": ["reason"], "properties": {
                                    "reason": {"type": "string", "minLength": 1},
                                    "reply_due": {"type": "string", "format": "date"},
                                    "abstract": {"type": "string"}}})),
                "get": _op("The updates of an issued document", 200,
                           {"type": "object", "properties": {"items": {"type": "array"}}},
                           params=[doc_id])},
            "/report-requests/{request_id}/compilation.pdf": {"get": {
                **_op("The requesting unit's compilation: a summary table of every unit asked "
                      "(sent on time, late, or owed) and each report sent (download audited)",
                      200, None, params=[_path_param("request_id")]),
                "responses": {"200": {"description": "The PDF",
                                      "content": {"application/pdf": {}}}, **ERRORS}}},
            "/units/merge": {"post": _op(
                "Merge units into a successor (an admin above all of them): the merged units "
                "keep their history; the successor takes over people, sub-units, open "
                "entries, unsigned drafts and owed reports", 200, {"type": "object"},
                body=_json({"type": "object", "required": ["units", "into"], "properties": {
                    "units": {"type": "array", "items": {"type": "string"}},
                    "into": {"type": "string"}, "on": {"type": "string", "format": "date"}}}))},
            "/notifications": {"get": _op(
                "The caller's notifications, newest first: assignments, deadlines due and "
                "passed, escalations, late registrations, drafts to review, returns, "
                "documents to number and seal, recalls, reports due; with the unread count",
                200, {"type": "object", "properties": {
                    "items": {"type": "array"}, "unread": {"type": "integer"},
                    "next": {"type": ["string", "null"]}}}, tag="receipts",
                params=[_query("unread", {"enum": ["1", "true"]}),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                        _query("before", {"type": "string"})])},
            "/notifications/read": {"post": _op(
                "Mark notifications read: the ids given, or all", 200,
                {"type": "object", "properties": {"marked": {"type": "integer"}}},
                tag="receipts", body=_json({"type": "object", "properties": {
                    "ids": {"type": "array", "items": {"type": "string"}}}}))},
            "/audit/events": {"get": _op(
                "The trail within the caller's audited units, oldest first (auditors); every "
                "query is itself recorded. format=csv: every match as a CSV file", 200,
                {"type": "object", "properties": {"items": {"type": "array"},
                                                  "next": {"type": ["integer", "null"]}}},
                tag="audit", params=[
                    _query("document", {"type": "string"}),
                    _query("actor", {"type": "string", "description": "a username"}),
                    _query("unit", {"type": "string", "description": "and the units below"}),
                    _query("action", {"type": "string", "description": "comma-separated"}),
                    _query("from", {"type": "string", "description": "date or ISO time"}),
                    _query("to", {"type": "string", "description": "a bare date is inclusive"}),
                    _query("after", {"type": "integer", "description": "the last id seen"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _query("format", {"enum": ["json", "csv"]})])},
            "/audit/events/{event_id}/proof": {"get": _op(
                "RFC 9162 inclusion proof of an event: leaf index, audit path, signed head",
                200, {"type": "object"}, tag="audit",
                params=[_path_param("event_id"), _query("tree_size", {"type": "integer"})])},
            "/audit/consistency": {"get": _op(
                "RFC 9162 consistency proof: the log of `second` leaves extends that of `first`",
                200, {"type": "object"}, tag="audit",
                params=[_query("first", {"type": "integer"}),
                        _query("second", {"type": "integer"})])},
            "/audit/tree-heads": {
                "get": _op("Signed tree heads, oldest first", 200, {"type": "object"},
                           tag="audit", params=[_query("since_size", {"type": "integer"}),
                                                _query("limit", {"type": "integer"})]),
                "post": _op("Sign a tree head now (auditors)", 201, {"type": "object"},
                            tag="audit")},
            "/audit/tree-heads/latest": {"get": _op("The latest signed tree head", 200,
                                                    {"type": "object"}, tag="audit")},
            "/audit/log-key": {"get": _op(
                "The log's public key (PEM; fingerprint in X-Key-Fingerprint)", 200, None,
                tag="audit")},
            "/audit/exports": {"post": _op(
                "An audit bundle (zip) of a document, a unit or a time range, for `docflow "
                "audit verify`", 200, None, tag="audit", body=_json({
                    "type": "object", "properties": {
                        "document": {"type": "string"}, "unit": {"type": "string"},
                        "from": {"type": "string"}, "to": {"type": "string"},
                        "known": {"type": "array", "items": {"type": "object"}}}}))},
            "/audit/witness": {"post": _op(
                "A child unit's docflow hands over its newest signed tree head and the proof "
                "that it extends the one held (no login: the log's key authenticates it); 409 "
                "on a fork or rollback", 201, {"type": "object", "properties": {
                    "verdict": {"enum": ["consistent"]}}}, tag="audit", body=_json({
                        "type": "object", "required": ["head"], "properties": {
                            "head": {"type": "object"},
                            "proof": {"type": "array", "items": {"type": "string"}}}}))},
            "/audit/witness/{log_id}": {"get": _op(
                "The newest head of a child log held as consistent", 200, {"type": "object"},
                tag="audit", params=[_path_param("log_id")])},
            "/audit/witness/{log_id}/heads": {"get": _op(
                "Every head of a child log received, newest first, with its verdict", 200,
                {"type": "object"}, tag="audit",
                params=[_path_param("log_id"), _query("limit", {"type": "integer"})])},
            "/audit/documents/{document_id}/evidence.pdf": {"get": _op(
                "An evidence pack for one document (auditors): particulars, signature "
                "validation, the trail with inclusion proofs, the file and the audit bundle "
                "embedded; signed by the auditor's unit", 200, None, tag="audit",
                params=[doc_id])},
            "/audit/statements/{kind}": {"get": _op(
                "A unit's register or processing report for a period, as a PDF signed by the "
                "unit", 200, None, tag="audit", params=[
                    {"name": "kind", "in": "path", "required": True, "schema": {"enum": [
                        "outgoing-register", "incoming-register", "outgoing-report",
                        "incoming-report"]}},
                    _query("unit", {"type": "string"}),
                    _query("from", {"type": "string", "format": "date"}),
                    _query("to", {"type": "string", "format": "date"})])},
            "/incoming": {"post": _op(
                "Bring in a document from outside docflow (scanned paper, e-mail, another "
                "system): it becomes an arrived entry of the clerk's unit; the answer lists "
                "registered entries it looks like", 201, _ref("Receipt"), tag="receipts",
                body={"content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["metadata", "file"], "properties": {
                        "file": {"type": "string", "contentMediaType": "application/pdf"},
                        "metadata": {"type": "string", "contentMediaType": "application/json",
                                     "description": "JSON: type, abstract, issuer, "
                                     "issued_on, channel (paper|email|system), symbol, "
                                     "issuer_code, urgency, confidentiality, reply_due, "
                                     "unit_code"}}}}}})},
            **{f"/receipts/{{receipt_id}}/{step}": {"post": _op(
                summary, 200, _ref("Receipt"), tag="receipts", params=[rcpt_id],
                **({"body": REASON} if step == "return" else {}))} for step, summary in (
                ("register", "Register the arrival (next arrival number of the year)"),
                ("complete", "Report the document handled; the lead may link the result "
                             "document (JSON body {\"result_document_id\": …})"),
                ("return", "Return the document to its sender with a reason"))},
            "/openapi.json": {"get": _op("This document", 200, {"type": "object"},
                                         tag="meta")},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from POST /tokens"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "Browser session; unsafe methods need the "
                                           "X-CSRF-Token header"},
            },
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"},
                    "status": {"type": "integer"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "string"}}}},
                "DraftSpec": {"type": "object", "required": ["type", "abstract"], "properties": {
                    "type": {"enum": sorted(CATALOGUE)},
                    "abstract": {"type": "string", "maxLength": 2000},
                    "urgency": {"enum": [u.value for u in Urgency]},
                    "confidentiality": {"enum": [c.value for c in Confidentiality],
                                        "description": "anything but 'normal' is refused"},
                    "recipients": {"type": "array", "items": {"type": "string"}},
                    "reply_due": {"type": ["string", "null"], "format": "date"},
                    "department": {"type": "string", "pattern": "^[A-ZĐ0-9]{1,10}$",
                                   "description": "the drafting department, for a công "
                                                  "văn's symbol (05/BNV-VP)"},
                    "replaces": {"type": "string", "format": "uuid",
                                 "description": "an issued document of the same unit that "
                                                "this one supersedes once issued"},
                    "unit_code": {"type": "string"}}},
                "Document": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "status": {"type": "string"},
                    "symbol": {"type": ["string", "null"]}, "number": {"type": ["integer", "null"]},
                    "revisions": {"type": "array", "items": _ref("Revision")},
                    "actions": {"type": "array", "items": {"type": "string"}}}},
                "Revision": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"enum": ["main", "attachment"]},
                    "sha256": {"type": "string"}, "size": {"type": "integer"},
                    "page_count": {"type": "integer"}}},
                "DispatchTarget": {"type": "object", "properties": {
                    "units": {"type": "array", "items": {"type": "string"}},
                    "level": {"type": "string"}, "under": {"type": "string"}}},
                "Consultation": {"type": "object", "properties": {
                    "id": {"type": "string"}, "document_id": {"type": "string"},
                    "question": {"type": "string"},
                    "participants": {"type": "array", "items": {"type": "string"}},
                    "deadline": {"type": ["string", "null"], "format": "date"},
                    "status": {"enum": ["consulting", "answered", "concluded"]},
                    "opinions": {"type": "array", "items": {"type": "object"}},
                    "tally": {"type": "object", "properties": {
                        "agree": {"type": "integer"}, "disagree": {"type": "integer"},
                        "other": {"type": "integer"}, "pending": {"type": "integer"},
                        "majority_agrees": {"type": "boolean"}}},
                    "conclusion": {"type": ["string", "null"]}}},
                "Dispatch": {"type": "object", "properties": {
                    "id": {"type": "string"}, "status": {"enum": ["pending", "done"]},
                    "recipient_count": {"type": "integer"}}},
                "Receipt": {"type": "object", "properties": {
                    "id": {"type": "string"}, "status": {"enum": [s.value for s in ReceiptStatus]},
                    "edxml_status": {"type": ["string", "null"]},
                    "arrival_number": {"type": ["integer", "null"]},
                    "validation": {"type": ["object", "null"], "description":
                                   "intake's signature validation of the file sent"}}},
                "ValidationReport": {"type": "object", "properties": {
                    "sha256": {"type": "string"},
                    "verdict": {"enum": ["VALID", "INVALID", "INDETERMINATE", "NO_SIGNATURE"]},
                    "reasons": {"type": "array"}, "warnings": {"type": "array"},
                    "signatures": {"type": "array"}}},
                "Actor": {"type": "object", "properties": {
                    "id": {"type": "string"}, "username": {"type": "string"},
                    "roles": {"type": "array"}}},
            },
        },
    }
