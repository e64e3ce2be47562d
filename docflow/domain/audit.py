"""Audit events: every state change, view and download leaves one, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
    USER_CREATE = "user.create"
    USER_PASSWORD = "user.password"
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
