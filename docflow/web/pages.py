"""The browser pages: log in, inbox and outbox, a document with its recipients, the round trip.

Each view parses the form, calls one service and redirects; the rules stay in the services.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from docflow.domain.documents import CATALOGUE, DraftSpec, RevisionKind, Urgency
from docflow.domain.errors import DomainError, NotFound, Unauthenticated
from docflow.domain.routing import DispatchTarget
from docflow.web.auth import (
    begin_session,
    csrf_token,
    current_actor,
    end_session,
    optional_actor,
    origin,
    services,
)

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def _globals() -> dict[str, object]:
    return {"csrf_token": csrf_token, "actor": optional_actor(), "catalogue": CATALOGUE,
            "urgencies": list(Urgency)}


def _login_required() -> WerkzeugResponse | None:
    if optional_actor() is None:
        return redirect(url_for("pages.login", next=request.path))
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        try:
            actor = services().identity.login(request.form.get("username", ""),
                                              request.form.get("password", ""), origin())
        except Unauthenticated as exc:
            error = exc.message
        else:
            begin_session(actor)
            target = request.args.get("next", "")
            # Only local paths: an open redirect would hand the session to another site.
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("pages.home")
            return redirect(target)
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_session()
    return redirect(url_for("pages.login"))


@bp.get("/")
def home() -> ResponseReturnValue:
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    q = services().queries
    return render_template("home.html", inbox=q.inbox(actor, limit=100),
                           outbox=q.outbox(actor, limit=100))


@bp.route("/documents/new", methods=["GET", "POST"])
def new_document() -> ResponseReturnValue:
    if (r := _login_required()) is not None:
        return r
    if request.method == "GET":
        return render_template("new.html")
    actor = current_actor()
    svc = services().documents
    spec = DraftSpec(doc_type=request.form.get("type", ""),
                     abstract=request.form.get("abstract", ""),
                     urgency=Urgency(request.form.get("urgency", "normal")),
                     recipients=tuple(c.strip() for c in
                                      request.form.get("recipients", "").split(",") if c.strip()))
    doc = svc.draft(actor, spec, origin())
    upload = request.files.get("main")
    if upload and upload.filename:
        svc.attach(actor, doc.id, RevisionKind.MAIN, upload.filename, upload.stream,  # type: ignore[arg-type]
                   origin())
    return redirect(url_for("pages.document", document_id=doc.id))


@bp.get("/documents/<document_id>")
def document(document_id: str) -> ResponseReturnValue:
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    s = services()
    doc = s.documents.view(actor, document_id, origin())
    counts, rows = s.queries.recipients(actor, document_id)
    mine = [row for row in rows if row.unit_code in actor.unit_codes]
    receipt_actions = {row.receipt_id: s.documents.allowed_receipt_actions(
        actor, s.documents.receipt(actor, row.receipt_id)) for row in mine}
    return render_template("document.html", doc=doc,
                           actions=s.documents.allowed_actions(actor, doc), counts=counts,
                           rows=rows[:500], total=sum(counts.values()),
                           receipt_actions=receipt_actions)


@bp.post("/documents/<document_id>/<any(submit, approve, issue, return, dispatch, attach):action>")
def act(document_id: str, action: str) -> ResponseReturnValue:
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    svc = services().documents
    try:
        if action == "return":
            svc.return_to_drafter(actor, document_id, request.form.get("reason", ""), origin())
        elif action == "dispatch":
            units = tuple(c.strip() for c in request.form.get("units", "").split(",")
                          if c.strip())
            svc.dispatch(actor, document_id, DispatchTarget(
                units, request.form.get("level") or None, request.form.get("under") or None),
                origin())
        elif action == "attach":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash("Choose a PDF file first.")
            else:
                kind = RevisionKind(request.form.get("kind", "main"))
                svc.attach(actor, document_id, kind, upload.filename, upload.stream,  # type: ignore[arg-type]
                           origin())
        else:
            {"submit": svc.submit, "approve": svc.approve, "issue": svc.issue}[action](
                actor, document_id, origin())
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message)
    return redirect(url_for("pages.document", document_id=document_id))


@bp.post("/receipts/<receipt_id>/<any(register, complete, return):action>")
def receive(receipt_id: str, action: str) -> ResponseReturnValue:
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    svc = services().documents
    receipt = svc.receipt(actor, receipt_id)
    try:
        if action == "register":
            svc.register_receipt(actor, receipt_id, origin())
        elif action == "complete":
            svc.complete_receipt(actor, receipt_id, origin())
        else:
            svc.return_receipt(actor, receipt_id, request.form.get("reason", ""), origin())
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message)
    return redirect(url_for("pages.document", document_id=receipt.document_id))
