"""The pages that set people and units up: one's own profile (the signature image), a unit's
delegations of signing authority (its leaders), and administration (units and their seal
images, people and roles, organisation imports) for administrators of a unit.

As in `pages`: each view parses the form, calls one service and redirects; the services
decide who may do what.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from docflow.domain.documents import CATALOGUE
from docflow.domain.errors import DomainError, Invalid, NotFound
from docflow.domain.org import Role
from docflow.domain.signatures import Authority
from docflow.orgfile import read_org_files
from docflow.services.org import OrgImport
from docflow.signing.trust import TrustAnchorError, load_anchors
from docflow.web.auth import current_actor, origin, pages_login, services
from docflow.web.forms import form_choice, form_date
from docflow.web.labels import refusal

bp = Blueprint("admin", __name__)
bp.before_request(pages_login)

MAX_IMAGE_UPLOAD = 2 << 20
# Most accounts are officers; administrator last, so it is never picked by default.
ROLE_ORDER = [r.value for r in (Role.OFFICER, Role.CLERK, Role.LEADER, Role.AUDITOR, Role.ADMIN)]
MAX_IMPORT_UPLOAD = 20 << 20


def _data_uri(png: bytes | None) -> str | None:
    return "data:image/png;base64," + base64.b64encode(png).decode() if png else None


def _refused(exc: DomainError) -> None:
    """The refusal and each reason it gives (bad rows of an import, faults of a grant)."""
    flash(refusal(exc))
    reasons = exc.errors if isinstance(exc, Invalid) else exc.details.get("errors", [])
    for line in list(reasons)[:50]:  # type: ignore[call-overload]
        flash(str(line))


def _upload(field: str, limit: int) -> bytes:
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise Invalid(gettext("Choose a file first."))
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise Invalid(gettext("The file is too large."))
    return data


# --- one's own profile --------------------------------------------------------------------------

@bp.get("/profile")
def profile() -> ResponseReturnValue:
    actor = current_actor()
    image = services().marks.signature_image(actor)
    return render_template("profile.html", signature=_data_uri(image))


@bp.post("/profile/signature-image")
def signature_image() -> ResponseReturnValue:
    try:
        services().marks.set_signature_image(current_actor(), _upload("image", MAX_IMAGE_UPLOAD),
                                             origin())
        flash(gettext("Your signature image is saved; your next signatures show it."))
    except DomainError as exc:
        flash(refusal(exc))
    return redirect(url_for("admin.profile"))


# --- delegations (a unit's leaders) -------------------------------------------------------------

@bp.get("/delegations")
def delegations() -> ResponseReturnValue:
    actor = current_actor()
    led = actor.led_units()
    held = {code: services().delegations.for_unit(actor, code) for code in led}
    names = services().identity.usernames(
        [d.grantee_id for rows in held.values() for d in rows])
    return render_template("delegations.html", held=held, names=names, led=led,
                           authorities=list(Authority), catalogue=CATALOGUE)


@bp.post("/delegations")
def grant_delegation() -> ResponseReturnValue:
    form = request.form
    try:
        services().delegations.grant(
            current_actor(), form.get("unit", ""), form.get("grantee", "").strip().lower(),
            form_choice(Authority, "authority", gettext("Choose the authority delegated.")),
            form_date("from"), form_date("to"),
            form.get("reason", ""), origin(), doc_types=form.getlist("types"))
        flash(gettext("The delegation is recorded."))
    except DomainError as exc:
        _refused(exc)
    return redirect(url_for("admin.delegations"))


@bp.post("/delegations/<delegation_id>/revoke")
def revoke_delegation(delegation_id: str) -> ResponseReturnValue:
    try:
        services().delegations.revoke(current_actor(), delegation_id, origin())
        flash(gettext("The delegation is revoked."))
    except NotFound:
        raise
    except DomainError as exc:
        flash(refusal(exc))
    return redirect(url_for("admin.delegations"))


# --- administration -----------------------------------------------------------------------------

@bp.get("/admin")
def admin() -> ResponseReturnValue:
    actor = current_actor()
    s = services()
    units = s.admin.units(actor)
    seals = {u.code: _data_uri(s.marks.seal_image(actor, u.code)) for u in units
             if u.seal_image}
    now = s.clock.now()
    try:
        found = load_anchors(s.settings.trust_anchors)
    except TrustAnchorError as exc:  # a file there that is not a certificate: say which
        flash(str(exc))
        found = []
    anchors = [{"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string(),
                "until": c.not_valid_after_utc, "days": (c.not_valid_after_utc - now).days,
                "sha256": c.fingerprint(hashes.SHA256()).hex()}
               for c in sorted(found, key=lambda c: c.not_valid_after_utc)]  # soonest first
    return render_template("admin.html", units=units, seals=seals,
                           members=s.admin.members(actor), roles=ROLE_ORDER,
                           held=set(s.seals.units()), anchors=anchors)


@bp.post("/admin/<any(person, grant, password, seal, import):action>")
def administer(action: str) -> ResponseReturnValue:
    actor = current_actor()
    s = services()
    form = request.form
    try:
        if action == "person":
            password = s.admin.add_person(actor, form.get("username", ""),
                                          form.get("full_name", ""), form.get("unit", ""),
                                          _role(), origin())
            flash(gettext("Account %(username)s made; its first password, to hand over: "
                          "%(password)s", username=form.get("username", "").strip().lower(),
                          password=password))
        elif action == "grant":
            s.admin.grant(actor, form.get("username", ""), form.get("unit", ""), _role(),
                          origin())
            flash(gettext("The role is granted."))
        elif action == "password":
            password = s.admin.reset_password(actor, form.get("username", ""), origin())
            flash(gettext("New password for %(username)s, to hand over: %(password)s",
                          username=form.get("username", ""), password=password))
        elif action == "seal":
            s.marks.set_seal_image(actor, form.get("unit", ""),
                                   _upload("image", MAX_IMAGE_UPLOAD), origin())
            flash(gettext("The seal image is saved; the unit's next seals show it."))
        else:
            report = s.admin.import_org(actor, _import_file(), origin())
            flash(gettext("Imported: %(units)s units new, %(updated)s updated, %(users)s "
                          "people new.", units=report.units_created,
                          updated=report.units_updated, users=report.users_created))
    except DomainError as exc:
        _refused(exc)
    return redirect(url_for("admin.admin"))


def _role() -> Role:
    return form_choice(Role, "role", gettext("Choose a role."))


def _import_file() -> OrgImport:
    upload = request.files.get("file")
    name = Path(upload.filename).name if upload is not None and upload.filename else ""
    if name and Path(name).suffix.lower() not in (".csv", ".yaml", ".yml"):
        raise Invalid(gettext("An import is a CSV or YAML file."))
    data = _upload("file", MAX_IMPORT_UPLOAD)
    with tempfile.TemporaryDirectory(prefix="docflow-import-") as folder:
        # The reader names rows by file: keep the name people know it by.
        path = Path(folder) / name
        path.write_bytes(data)
        return read_org_files([path])
