"""The browser pages: log in, documents in and out, drafting, the document page with its
flows (outgoing and incoming), registers, the dashboard, the auditor's trail and proofs.

Each view parses the form, calls one service and redirects; the rules stay in the services.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.wrappers import Response as WerkzeugResponse

from docflow.auditbundle import head_signed, inclusion_fault
from docflow.domain.audit import Action, AuditFilter
from docflow.domain.documents import CATALOGUE, DraftSpec, RevisionKind, Urgency
from docflow.domain.errors import (
    DomainError,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from docflow.domain.routing import DispatchTarget, ReceiptStatus
from docflow.domain.signatures import Authority, ValidationOutcome
from docflow.services.audit import auditor_scope
from docflow.signing.trust import TrustAnchorError
from docflow.web.auth import (
    begin_session,
    csrf_token,
    current_actor,
    end_session,
    optional_actor,
    origin,
    services,
)
from docflow.web.forms import form_date
from docflow.web.i18n import LANGUAGES
from docflow.web.labels import (
    action_label,
    refusal,
    role_label,
    signature_kind_label,
    status_label,
    urgency_label,
    verdict_label,
)

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def _globals() -> dict[str, object]:
    actor = optional_actor()
    return {"csrf_token": csrf_token, "actor": actor, "catalogue": CATALOGUE,
            "action_label": action_label, "status_label": status_label,
            "urgency_label": urgency_label, "role_label": role_label,
            "verdict_label": verdict_label, "signature_kind_label": signature_kind_label,
            "urgencies": list(Urgency),
            "is_auditor": actor is not None and bool(actor.auditing()),
            "is_leader": actor is not None and bool(actor.led_units()),
            "is_admin": actor is not None and actor.is_admin(),
            "token_agent": services().settings.token_agent_url, "authorities": list(Authority)}


def _local_path(target: str | None) -> str:
    # Only local paths: an open redirect would hand the session to another site.
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.home")
    return target


@bp.post("/language")
def language() -> ResponseReturnValue:
    """Choose the pages' language; kept with the person's account when logged in."""
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        actor = optional_actor()
        if actor is not None:
            services().identity.set_locale(actor, chosen)
    return redirect(_local_path(request.form.get("next", "").rstrip("?")))


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
        except (Unauthenticated, TooManyAttempts) as exc:
            error = refusal(exc)
        else:
            lang = session.get("lang")
            begin_session(actor)
            if lang:
                session["lang"] = lang
            return redirect(_local_path(request.args.get("next", "")))
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
    status = request.args.get("status") or None
    overdue = request.args.get("overdue") == "1"
    today = services().clock.now().astimezone(ZoneInfo(services().settings.timezone)).date()
    return render_template("home.html", inbox=q.inbox(actor, status=status, limit=100,
                                                      overdue=overdue),
                           outbox=q.outbox(actor, limit=100), today=today,
                           status=status or "", overdue=overdue,
                           statuses=[s.value for s in ReceiptStatus])


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
    trail = None
    if actor.auditing():
        trail = _timeline(s.audit.events(actor, AuditFilter(scope=None, document_id=doc.id),
                                         origin(), limit=500))
    counts, rows = s.queries.recipients(actor, document_id)
    mine = [row for row in rows if row.unit_code in actor.unit_codes]
    receipt_actions = {row.receipt_id: s.documents.allowed_receipt_actions(
        actor, s.documents.receipt(actor, row.receipt_id)) for row in mine}
    try:
        validation = s.intake.file_report(actor, document_id)
    except TrustAnchorError as exc:  # the operator's trust folder is broken: say so, go on
        flash(str(exc))
        validation = None
    try:
        cascade = s.queries.cascade(actor, document_id, request.args.get("unit") or None)
    except DomainError:  # a unit it never reached, asked for by hand
        cascade = None
    return render_template("document.html", doc=doc,
                           actions=s.documents.allowed_actions(actor, doc), counts=counts,
                           rows=rows[:500], total=sum(counts.values()),
                           receipt_actions=receipt_actions, trail=trail, cascade=cascade,
                           signatures=s.signatures.signatures(actor, document_id),
                           validation=validation, checked=_checked(validation))


def _checked(validation: ValidationOutcome | None) -> list[dict[str, Any]]:
    """The report's signatures, each with its claimed signing time as a datetime (for the
    person's time zone and language)."""
    if validation is None:
        return []
    rows = validation.report.get("signatures") or []
    assert isinstance(rows, list)
    return [{**row, "when": datetime.fromisoformat(row["signing_time"])
             if row.get("signing_time") else None} for row in rows]


@bp.post("/documents/<document_id>/<any(submit, pass, approve, number, seal, issue, return, "
         "release, comment, dispatch, attach):action>")
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
            level = request.form.get("level") or None
            # "Under" only narrows a level; with named units it is not asked for.
            svc.dispatch(actor, document_id, DispatchTarget(
                units, level, (request.form.get("under") or None) if level else None),
                origin())
        elif action == "attach":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash("Choose a PDF file first.")
            else:
                kind = RevisionKind(request.form.get("kind", "main"))
                svc.attach(actor, document_id, kind, upload.filename, upload.stream,  # type: ignore[arg-type]
                           origin())
        elif action == "release":
            svc.release_number(actor, document_id, request.form.get("reason", ""), origin())
        elif action == "comment":
            svc.comment(actor, document_id, request.form.get("text", ""), origin())
        elif action == "seal":
            # The organisation's signature with the seal the server holds for the unit.
            services().signatures.seal(actor, document_id, origin())
        else:
            {"submit": svc.submit, "pass": svc.pass_review, "approve": svc.approve,
             "number": svc.number, "issue": svc.issue}[action](actor, document_id, origin())
    except NotFound:
        raise
    except DomainError as exc:
        flash(refusal(exc))
    return redirect(url_for("pages.document", document_id=document_id))


@bp.post("/receipts/<receipt_id>/<any(register, complete, return, assign, progress, extend, "
         "forward):action>")
def receive(receipt_id: str, action: str) -> ResponseReturnValue:
    """An incoming entry's handling: register, assign (annotation, lead, deadline), progress,
    extend, forward to sub-units, complete, or return."""
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    s = services()
    svc = s.documents
    receipt = svc.receipt(actor, receipt_id)
    form = request.form
    try:
        if action == "register":
            svc.register_receipt(actor, receipt_id, origin())
        elif action == "complete":
            svc.complete_receipt(actor, receipt_id, origin())
        elif action == "assign":
            s.handling.assign(actor, receipt_id, form.get("annotation", ""),
                              form.get("lead", "").strip(), form_date("deadline"), origin(),
                              coordinators=_names("coordinators"), informed=_names("informed"))
        elif action == "progress":
            s.handling.progress(actor, receipt_id, form.get("text", ""), origin())
        elif action == "extend":
            s.handling.extend(actor, receipt_id, form_date("deadline"),
                              form.get("reason", ""), origin())
        elif action == "forward":
            svc.forward(actor, receipt_id, DispatchTarget(
                _names("units"), form.get("level") or None, receipt.unit_code
                if form.get("level") else None), origin())
        else:
            svc.return_receipt(actor, receipt_id, form.get("reason", ""), origin())
    except NotFound:
        raise
    except DomainError as exc:
        flash(refusal(exc))
    return redirect(url_for("pages.document", document_id=receipt.document_id))


def _names(field: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in request.form.get(field, "").split(",") if n.strip())


# --- the auditor's pages ------------------------------------------------------------------------

def _timeline(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = services().identity.usernames(
        {r["actor_id"] for r in records if r.get("actor_id")})
    return [{**r, "when": datetime.fromisoformat(r["at"].replace("Z", "+00:00")),
             "actor": names.get(r["actor_id"] or "", r["actor_id"])} for r in records]


AUDIT_FIELDS = ("document", "actor", "unit", "action", "from", "to")


@bp.get("/audit")
def audit() -> ResponseReturnValue:
    """Search the trail within the units the auditor audits; export CSV or an evidence pack;
    each event links to the check of its proof."""
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    asked = {k: request.args.get(k, "").strip() for k in AUDIT_FIELDS}
    events: list[dict[str, Any]] | None = None
    more = None
    if any(asked.values()) or request.args.get("search"):
        from docflow.web.audit import trail_filter

        after = request.args.get("after", "")
        found = services().audit.events(actor, trail_filter(), origin(),
                                        after=int(after) if after.isdigit() else None,
                                        limit=PAGE)
        events = _timeline(found)
        more = found[-1]["id"] if len(found) == PAGE else None
    else:
        auditor_scope(actor)  # only auditors come here
    query = {k: v for k, v in asked.items() if v}
    return render_template("audit.html", asked=asked, events=events, more=more,
                           query=query, actions=[a.value for a in Action])


PAGE = 100


@bp.get("/audit/events/<event_id>")
def audit_proof(event_id: str) -> ResponseReturnValue:
    """The check of one event's place in the log, done here as an auditor's tool would: the
    inclusion proof against the signed tree head, and the head's signature."""
    if (r := _login_required()) is not None:
        return r
    if not event_id.isdigit():
        raise NotFound("no such event")
    actor = current_actor()
    s = services()
    leaf, size, path, head = s.audit.inclusion(actor, int(event_id))
    found = s.audit.events(actor, AuditFilter(scope=None), origin(), after=int(event_id) - 1,
                           limit=1)
    record = found[0]
    problems = []
    if head is None:
        problems.append(gettext("No signed tree head of this size."))
    else:
        # The offline verifier's own checks, so the page says what `docflow audit verify` would.
        if not head_signed(head, s.audit.public_key_pem):
            problems.append(gettext("The tree head's signature does not verify."))
        fault = inclusion_fault(record, leaf, path, head)
        if fault is not None:
            problems.append(gettext("The inclusion proof fails: %(why)s", why=fault))
    return render_template("proof.html", record=_timeline([record])[0], leaf=leaf, size=size,
                           path=[p.hex() for p in path], head=head, problems=problems,
                           signed_at=datetime.fromtimestamp(head.timestamp / 1000, tz=UTC)
                           if head else None,
                           fingerprint=s.audit.log_id.hex())


# --- the leader's queue and signing ---------------------------------------------------------------

@bp.get("/approvals")
def approvals() -> ResponseReturnValue:
    """What waits on the leader: review rounds, submissions, approved documents to sign (one
    or a selection, with the token on their own computer)."""
    if (r := _login_required()) is not None:
        return r
    return render_template("approvals.html",
                           documents=services().queries.approvals(current_actor()))


@bp.get("/batches/<batch_id>")
def batch(batch_id: str) -> ResponseReturnValue:
    """A signing batch's progress, document by document; refreshes itself while any is
    still on its way."""
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    items = services().batches.items(actor, batch_id)
    titles = services().queries.summaries(actor, [item.document_id for item in items])
    counts = Counter(item.status.value for item in items)
    waiting = sum(not item.status.finished for item in items)
    return render_template("batch.html", batch_id=batch_id, items=items, counts=counts,
                           titles=titles,
                           waiting=waiting, done=len(items) - waiting)


# --- registers ------------------------------------------------------------------------------------

@bp.get("/registers/<any(outgoing, incoming):kind>")
def registers(kind: str) -> ResponseReturnValue:
    """The outgoing or incoming register of the person's units: words without diacritics, a
    period; the print-ready signed PDF of a unit's register for that period."""
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    args = request.args
    try:
        start = date.fromisoformat(args["from"]) if args.get("from") else None
        end = date.fromisoformat(args["to"]) if args.get("to") else None
    except ValueError:
        flash(gettext("Give dates as the calendar offers them."))
        start = end = None
    q = services().queries
    read = q.outgoing_register if kind == "outgoing" else q.incoming_register
    rows = read(actor, args.get("q", ""), from_date=start, to_date=end, limit=200)
    units = sorted(actor.unit_codes)
    today = services().clock.now().astimezone(ZoneInfo(services().settings.timezone)).date()
    return render_template("registers.html", kind=kind, rows=rows, asked=args, units=units,
                           period=(start or today.replace(day=1), end or today))


@bp.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    """Counts for the person's units, as charts: documents and entries by status, what is
    late where, how long handling takes."""
    if (r := _login_required()) is not None:
        return r
    actor = current_actor()
    owed = {r.title: len(r.pending()) for r in services().reports.collecting(actor)}
    return render_template("dashboard.html", board=services().queries.dashboard(actor),
                           owed=owed)
