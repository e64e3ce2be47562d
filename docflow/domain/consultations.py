"""Consultation (xin ý kiến): people chosen by the drafter give their opinion on a draft."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

MAX_PARTICIPANTS = 50


class Answer(StrEnum):
    AGREE = "agree"
    DISAGREE = "disagree"
    OTHER = "other"  # an opinion of its own, in the comment


class ConsultationStatus(StrEnum):
    """Positions of the ``consultation`` workflow."""

    DRAFT = "draft"
    CONSULTING = "consulting"
    ANSWERED = "answered"  # everyone asked has answered
    CONCLUDED = "concluded"


@dataclass(frozen=True)
class Opinion:
    user_id: str
    answer: Answer
    comment: str
    at: datetime


@dataclass(frozen=True)
class Consultation:
    """One round of asking: who was asked, by when, their opinions and the conclusion."""

    id: str
    document_id: str
    unit_code: str
    """The drafting unit, which asks and concludes."""
    asked_by: str
    question: str
    participants: tuple[str, ...]
    """User ids of the people asked, in the order they were named."""
    deadline: date | None
    status: ConsultationStatus
    workflow_version: int
    created_at: datetime
    opinions: tuple[Opinion, ...] = ()
    quorum: int | None = None
    """How many answers complete the consultation; None: everyone asked."""
    conclusion: str | None = None
    concluded_by: str | None = None
    concluded_at: datetime | None = None

    def tally(self) -> Tally:
        return Tally.of(self.opinions, len(self.participants))


@dataclass(frozen=True)
class Tally:
    """The answers counted. A majority of all the people asked (not of those who answered)
    agreeing is what a collective body needs to carry a draft."""

    agree: int
    disagree: int
    other: int
    pending: int

    @classmethod
    def of(cls, opinions: Sequence[Opinion], asked: int) -> Tally:
        counts = Counter(o.answer for o in opinions)
        return cls(agree=counts[Answer.AGREE], disagree=counts[Answer.DISAGREE],
                   other=counts[Answer.OTHER], pending=asked - len(opinions))

    @property
    def majority_agrees(self) -> bool:
        return self.agree * 2 > self.agree + self.disagree + self.other + self.pending
