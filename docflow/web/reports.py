"""The report-request pages: an upper level asks its units for a report by a deadline, each
asked unit answers with a document it issued, the requester follows who has and has not
(reminds, extends, closes) and downloads the compilation.

As in `pages`: each view parses the form, calls one service and redirects.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from docflow.domain.errors import DomainError, Invalid, NotFound
from docflow.domain.reports import ANSWERS, RequestStatus
from docflow.domain.routing import DispatchTarget
from docflow.web.auth import current_actor, origin, pages_login, services
from docflow.web.forms import form_date
from docflow.web.labels import refusal

bp = Blueprint("reports", __name__)
bp.before_request(pages_login)


@bp.get("/reports")
def reports() -> ResponseReturnValue:
    actor = current_actor()
    found = services().reports.involving(actor)
    mine = sorted(actor.unit_codes)
    return render_template("reports.html", requests=found, mine=mine,
                           owed={r.id: r.owed_by(actor.unit_codes) for r in found})


@bp.post("/reports")
def ask() -> ResponseReturnValue:
    form = request.form
    unit = form.get("unit", "")
    level = form.get("level", "").strip() or None
    try:
        made = services().reports.request(
            current_actor(), unit, form.get("title", ""), form.get("details", ""),
            form_date("deadline"),
            # A level means: every unit of that level below the asking one.
            DispatchTarget(tuple(c.strip() for c in form.get("units", "").split(",")
                                 if c.strip()), level, unit if level else None), origin())
    except DomainError as exc:
        flash(refusal(exc))
        for line in exc.errors if isinstance(exc, Invalid) else ():
            flash(line)
        return redirect(url_for("reports.reports"))
    return redirect(url_for("reports.report", request_id=made.id))


@bp.get("/reports/<request_id>")
def report(request_id: str) -> ResponseReturnValue:
    actor = current_actor()
    s = services()
    found = s.reports.get(actor, request_id)
    owed = found.owed_by(actor.unit_codes)
    # What an owing unit may answer with: documents it issued.
    issued = s.queries.outbox(actor, limit=100, statuses=ANSWERS) if owed else []
    candidates = [d for d in issued if d.unit_code in owed]
    return render_template("report.html", r=found, owed=owed, candidates=candidates,
                           requesting=found.unit_code in actor.unit_codes,
                           open=found.status is RequestStatus.OPEN,
                           titles=s.queries.summaries(actor, [x.document_id for x in
                                                              found.submissions
                                                              if x.document_id]))


@bp.post("/reports/<request_id>/<any(submit, remind, extend, close, cancel):step>")
def act(request_id: str, step: str) -> ResponseReturnValue:
    actor = current_actor()
    svc = services().reports
    form = request.form
    try:
        if step == "submit":
            svc.submit(actor, request_id, form.get("unit", ""), form.get("document", ""),
                       origin())
            flash(gettext("The report is sent."))
        elif step == "remind":
            units = svc.remind(actor, request_id, origin())
            flash(gettext("Reminded: %(units)s", units=", ".join(units)))
        elif step == "extend":
            svc.extend(actor, request_id, form_date("deadline"), form.get("reason", ""), origin())
        elif step == "close":
            svc.close(actor, request_id, origin())
        else:
            svc.close(actor, request_id, origin(), cancel_reason=form.get("reason", ""))
    except NotFound:
        raise
    except DomainError as exc:
        flash(refusal(exc))
        for line in exc.errors if isinstance(exc, Invalid) else ():
            flash(line)
    return redirect(url_for("reports.report", request_id=request_id))
