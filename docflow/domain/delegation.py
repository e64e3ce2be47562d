"""Signing authority (Decree 30, Art. 13): who may sign with which prefix, from what record.

- no prefix: the head of the unit (a leader) signs in their own right;
- ``TM.`` (on behalf of a collective body): its head, a leader of the unit;
- ``KT.`` (a deputy for the head), ``Q.`` (acting head, e.g. during the head's leave), ``TL.``
  (by order) and ``TUQ.`` (by authorisation): each needs a delegation record from a leader of
  the unit, with a scope (document types; all when empty) and a validity window. ``TL.`` and
  ``TUQ.`` may be given to someone who is not a leader (a chief of office). An authorisation is
  never passed on: whoever holds one cannot grant one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from docflow.domain.errors import Forbidden, Invalid
from docflow.domain.signatures import Authority

NEEDS_RECORD = frozenset({Authority.DEPUTY, Authority.ACTING, Authority.BY_ORDER,
                          Authority.AUTHORISED})
FOR_NON_LEADERS = frozenset({Authority.BY_ORDER, Authority.AUTHORISED})
MAX_DAYS = 5 * 366  # a term; a longer standing grant is re-issued


@dataclass(frozen=True)
class Delegation:
    id: str
    unit_code: str
    grantor_id: str
    grantee_id: str
    authority: Authority
    doc_types: frozenset[str]
    """Document types it covers; empty: all."""
    valid_from: date
    valid_to: date
    reason: str
    created_at: datetime
    revoked_at: datetime | None = None

    def covers(self, doc_type: str, on: date) -> bool:
        return (self.revoked_at is None and self.valid_from <= on <= self.valid_to
                and (not self.doc_types or doc_type in self.doc_types))


def check_grant(authority: Authority, grantor_is_leader: bool, grantor_id: str,
                grantee_id: str, valid_from: date, valid_to: date, reason: str) -> None:
    """Refuse a grant the rules forbid, naming each problem."""
    errors = []
    if authority not in NEEDS_RECORD:
        errors.append(f"{authority.value} needs no record: a leader of the unit signs with it")
    if not grantor_is_leader:
        errors.append("only a leader of the unit grants signing authority (an authorisation "
                      "is never passed on)")
    if grantor_id == grantee_id:
        errors.append("a person does not delegate to themselves")
    if valid_to < valid_from:
        errors.append("the grant ends before it starts")
    elif (valid_to - valid_from).days > MAX_DAYS:
        errors.append("a grant lasts at most a term (5 years)")
    if not reason.strip():
        errors.append("give the reason or the decision it rests on")
    if errors:
        raise Invalid("the delegation is not valid", errors=errors)


def needs_record(authority: Authority | None) -> bool:
    """Whether signing with `authority` rests on a delegation record (KT., Q., TL., TUQ.);
    a leader's own signature and TM. do not."""
    return authority is not None and authority is not Authority.ON_BEHALF


def authority_for_signing(authority: Authority | None, is_leader: bool, doc_type: str,
                          on: date, held: Iterable[Delegation]) -> Delegation | None:
    """The record that lets the actor sign with `authority` (None when none is needed), or
    Forbidden saying what is missing."""
    if authority is None or not needs_record(authority):
        if not is_leader:
            raise Forbidden("the leader's signature needs a leader of the drafting unit")
        return None
    found = next((d for d in held if d.authority is authority and d.covers(doc_type, on)),
                 None)
    if found is None:
        raise Forbidden.fmt("signing %(authority)s needs a delegation of that authority, valid "
                            "today and covering this document type, from a leader of the unit",
                            {"authority": authority.value})
    if not is_leader and authority not in FOR_NON_LEADERS:
        raise Forbidden.fmt("%(authority)s is signed by a leader of the unit",
                            {"authority": authority.value})
    return found
