"""Notifications: what reaches a person without their asking, in the app and, when SMTP is
configured, by e-mail. Each has a key, so the same reminder is never sent twice however often
the reminder job runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class NoticeKind(StrEnum):
    ASSIGNED = "assigned"  # you lead, coordinate or are informed of an incoming entry
    EXTENDED = "extended"  # the deadline of what you lead moved
    DUE_SOON = "due_soon"  # what you lead is due within the reminder window
    OVERDUE = "overdue"  # what you lead is past its deadline (once per working day)
    ESCALATED = "escalated"  # what you assigned is overdue past the escalation threshold
    REGISTER_DUE = "register_due"  # an arrival waits for registration past its day
    URGENT_ARRIVAL = "urgent_arrival"  # an urgent document arrived: register it at once
    TO_REVIEW = "to_review"  # a draft of your unit waits for review or approval
    RETURNED = "returned"  # your draft came back, with the reason
    ENTRY_RETURNED = "entry_returned"  # a recipient returned what your unit sent (edXML 02)
    TO_ISSUE = "to_issue"  # a signed document waits for its number and seal
    RECALL_ASKED = "recall_asked"  # the sender asks a document back
    REPLACED = "replaced"  # a document you hold is superseded by a new one
    UPDATED = "updated"  # a document you hold was updated by its sender
    REPORT_DUE = "report_due"  # your unit's report is due soon, or late


@dataclass(frozen=True)
class Notice:
    """One notification to one person."""

    id: str
    user_id: str
    kind: NoticeKind
    title: str
    """One line, in the user's language (Vietnamese first)."""
    key: str
    """What makes it unique: the same key is not notified twice."""
    created_at: datetime
    document_id: str | None = None
    receipt_id: str | None = None
    read_at: datetime | None = None
    mailed_at: datetime | None = None
