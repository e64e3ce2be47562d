"""What the pages call things people read: audit actions in plain words (translated)."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _s

from docflow.domain.audit import Action
from docflow.domain.errors import DomainError

ACTIONS = {
    Action.DOCUMENT_CREATE: _l("Drafted"), Action.DOCUMENT_VIEW: _l("Viewed"),
    Action.DOCUMENT_ATTACH: _l("File attached"), Action.DOCUMENT_DOWNLOAD: _l("Downloaded"),
    Action.DOCUMENT_SUBMIT: _l("Submitted"), Action.DOCUMENT_APPROVE: _l("Approved"),
    Action.DOCUMENT_RETURN: _l("Returned to the drafter"), Action.DOCUMENT_ISSUE: _l("Issued"),
    Action.DOCUMENT_RECEIVE_EXTERNAL: _l("Received from outside"),
    Action.DOCUMENT_COMMENT: _l("Commented"), Action.DOCUMENT_REVIEW: _l("Review passed"),
    Action.DOCUMENT_NUMBER: _l("Numbered"),
    Action.DOCUMENT_RELEASE_NUMBER: _l("Number given back"),
    Action.DOCUMENT_DISPATCH: _l("Dispatched"), Action.DOCUMENT_SIGN: _l("Signed"),
    Action.DOCUMENT_RECALL: _l("Recalled"), Action.DOCUMENT_REPLACE: _l("Replaced"),
    Action.DOCUMENT_UPDATE: _l("Updated"),
    Action.RECEIPT_RECALL_AGREE: _l("Recall agreed"),
    Action.RECEIPT_RECALL_REFUSE: _l("Recall refused"),
    Action.CONSULTATION_ASK: _l("Opinions asked"),
    Action.CONSULTATION_ANSWER: _l("Opinion given"),
    Action.CONSULTATION_CONCLUDE: _l("Consultation concluded"),
    Action.RECEIPT_DELIVER: _l("Delivered"), Action.RECEIPT_REGISTER: _l("Registered"),
    Action.RECEIPT_RETURN: _l("Returned to the sender"),
    Action.RECEIPT_COMPLETE: _l("Handled"), Action.RECEIPT_FORWARD: _l("Forwarded down"),
    Action.RECEIPT_ASSIGN: _l("Assigned"), Action.RECEIPT_PROGRESS: _l("Progress noted"),
    Action.RECEIPT_EXTEND: _l("Deadline extended"), Action.USER_LOGIN: _l("Logged in"),
    Action.USER_LOGIN_FAILED: _l("Failed login"),
    Action.USER_LOGIN_LOCKED: _l("Login refused (too many failures)"),
    Action.USER_CREATE: _l("Account created"), Action.USER_PASSWORD: _l("Password set"),
    Action.ROLE_GRANT: _l("Role granted"),
    Action.USER_SIGNATURE_IMAGE: _l("Signature image set"),
    Action.UNIT_SEAL_IMAGE: _l("Seal image set"), Action.REPORT_REQUEST: _l("Report requested"),
    Action.REPORT_SUBMIT: _l("Report sent"), Action.REPORT_REMIND: _l("Report reminded"),
    Action.REPORT_EXTEND: _l("Report deadline extended"),
    Action.REPORT_CLOSE: _l("Report request closed"),
    Action.REPORT_COMPILE: _l("Reports compiled"),
    Action.DELEGATION_GRANT: _l("Authority delegated"),
    Action.DELEGATION_REVOKE: _l("Delegation revoked"),
    Action.TOKEN_CREATE: _l("API token created"), Action.ORG_IMPORT: _l("Organisation imported"),
    Action.ORG_MERGE: _l("Units merged"), Action.DOCUMENT_TRANSFER: _l("Moved to the successor"),
    Action.AUDIT_QUERY: _l("Trail searched"), Action.AUDIT_EXPORT: _l("Trail exported"),
    Action.AUDIT_EVIDENCE: _l("Evidence pack made"),
    Action.AUDIT_STATEMENT: _l("Register printed"),
    Action.AUDIT_WITNESS_ADD: _l("Log witnessed"),
    Action.AUDIT_WITNESS: _l("Tree head witnessed"),
}


def action_label(value: str) -> str:
    """The action in plain words; an action this version does not know, as stored."""
    try:
        return str(ACTIONS[Action(value)])
    except (ValueError, KeyError):
        return value


STATUSES = {
    # Outgoing documents.
    "draft": _s("status", "Draft"), "review": _s("status", "Under review"),
    "submitted": _s("status", "Awaiting approval"),
    "approved": _s("status", "Approved, to sign"), "signed": _s("status", "Signed, to number"),
    "numbered": _s("status", "Numbered, to seal"), "issued": _s("status", "Issued"),
    "dispatched": _s("status", "Sent"), "external": _s("status", "From outside"),
    # Incoming entries.
    "delivered": _s("status", "Arrived"), "registered": _s("status", "Registered"),
    "assigned": _s("status", "Assigned"), "processing": _s("status", "Being handled"),
    "done": _s("status", "Done"), "returned": _s("status", "Returned"),
}


def _word(table: Mapping[str, object], value: object) -> str:
    """The words for `value` (a code or an enum member); a code this version does not know,
    as stored."""
    text = str(getattr(value, "value", value))
    label = table.get(text)
    return str(label) if label is not None else text


def status_label(value: object) -> str:
    """A document's or an entry's status in plain words."""
    return _word(STATUSES, value)


URGENCIES = {
    "normal": _s("urgency", "Normal"), "khan": _s("urgency", "Urgent"),
    "thuong-khan": _s("urgency", "Very urgent"), "hoa-toc": _s("urgency", "Flash"),
}


def urgency_label(value: object) -> str:
    """Độ khẩn in words, as Decree 30 marks it."""
    return _word(URGENCIES, value)


ROLE_NAMES = {
    "clerk": _s("role", "Clerk"), "officer": _s("role", "Officer"),
    "leader": _s("role", "Leader"), "auditor": _s("role", "Auditor"),
    "admin": _s("role", "Administrator"),
}


def role_label(value: str) -> str:
    """A role in the words of the field (văn thư, chuyên viên, lãnh đạo …)."""
    return _word(ROLE_NAMES, value)


def refusal(exc: DomainError) -> str:
    """A refusal in the page's language: the catalogue has the domain's messages, fixed ones
    and the templates of those that name things (`DomainError.fmt`), which are filled here
    with the same names (a status in words)."""
    if exc.template is None:
        return str(gettext(exc.message))
    names = {k: status_label(v) if k == "status" else v for k, v in exc.names.items()}
    return str(gettext(exc.template, **names))


VERDICTS = {
    "VALID": _s("verdict", "Valid: every signature is intact and made with a trusted "
                           "certificate"),
    "INVALID": _s("verdict", "NOT valid: a signature is broken or the file was changed "
                             "after signing"),
    "INDETERMINATE": _s("verdict", "Not established: the signatures are intact, but a "
                                   "certificate could not be checked against a trusted CA"),
    "NO_SIGNATURE": _s("verdict", "No digital signature yet"),
}
SIGNATURE_KINDS = {
    "initial": _s("signature", "Initial (ký nháy)"), "leader": _s("signature", "Leader"),
    "seal": _s("signature", "Organisation (seal)"),
    "attachment": _s("signature", "Organisation, on an attachment"),
}


def verdict_label(value: str) -> str:
    """A validation verdict in plain words."""
    return _word(VERDICTS, value)


def signature_kind_label(value: object) -> str:
    """Which Decree-30 signature a record is."""
    return _word(SIGNATURE_KINDS, value)
