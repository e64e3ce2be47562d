"""The outgoing flow's fixed tail: what every version from 2 on, and every organisation's
variant of it, must keep.

Decree 30 gives an electronic document legal value only with the competent person's and the
organisation's signatures, in that order, after approval, with a number between them. An
organisation may shape its review (a commune without a review round, two reviewers in
sequence) but not that tail: a variant is refused when it is loaded if it could reach
``issued`` any other way. The services fire ``sign`` only when the leader's signature is
stored and ``seal`` only when the organisation's is, so "issued" implies both.
"""

from __future__ import annotations

import workflows
from docflow.domain.errors import Invalid

TAIL = ("approved", "signed", "numbered", "issued", "dispatched")
"""States every outgoing definition (v2 on) has, run the same way everywhere."""

SIGNATURE_TRIGGERS = frozenset({"sign", "seal"})
"""Fired by the signature service when the signature is stored, never by a person directly."""

_TAIL_EDGES = frozenset({
    ("sign", "approved", "signed"),
    ("number", "signed", "numbered"),
    ("release", "numbered", "signed"),
    ("seal", "numbered", "issued"),
    ("dispatch", "issued", "dispatched"),
    ("dispatch", "dispatched", "dispatched"),
})
_WAYS_BACK = frozenset({("return", "approved", "draft"), ("return", "signed", "draft")})


def fires(definition: workflows.Definition, trigger: str) -> bool:
    """Whether the flow has `trigger` at all: v1 documents are issued by the clerk, not by
    the seal, and carry no ``sign``/``seal`` steps."""
    return any(t.trigger == trigger for t in definition.transitions)


def check_outgoing(definition: workflows.Definition, base: workflows.Definition) -> None:
    """Refuse an outgoing definition (or variant) whose tail differs from `base`'s: every way
    into ``approved`` is a leader's ``approve``; from there only sign → number → seal →
    dispatch, the number's release, and the returns to draft, each guarded no more loosely
    than in `base`."""
    label = f"{definition.name} v{definition.version}"
    errors: list[str] = []
    missing = [s for s in ("draft", *TAIL) if s not in definition.states]
    if missing:
        errors.append(f"it lacks the states {', '.join(missing)}")
    if definition.initial != "draft":
        errors.append("it must start at 'draft'")
    base_edges = {(t.trigger, t.source, t.target): t for t in base.transitions}
    seen: set[tuple[str, str, str]] = set()
    for t in definition.transitions:
        edge = (t.trigger, t.source, t.target)
        if t.target == "approved" and t.source not in TAIL:
            if t.trigger != "approve" or not t.guard.roles <= {"leader"}:
                errors.append(f"'{t.trigger}' enters 'approved'; only a leader's 'approve' "
                              f"may")
            continue
        if t.source not in TAIL and t.target not in TAIL:
            continue  # the review part: the organisation's to shape
        if edge not in _TAIL_EDGES | _WAYS_BACK:
            errors.append(f"'{t.trigger}' ({t.source} → {t.target}) is not part of the "
                          f"outgoing tail")
            continue
        ours = base_edges.get(edge)
        if ours is not None and not t.guard.roles <= ours.guard.roles:
            errors.append(f"'{t.trigger}' from '{t.source}' lets "
                          f"{', '.join(sorted(t.guard.roles - ours.guard.roles))} fire it")
        if ours is not None and ours.needs_reason and not t.needs_reason:
            errors.append(f"'{t.trigger}' from '{t.source}' must ask for a reason")
        seen.add(edge)
    for edge in sorted(_TAIL_EDGES - seen):
        errors.append(f"it lacks '{edge[0]}' ({edge[1]} → {edge[2]})")
    if not any(t.trigger == "approve" and t.target == "approved"
               for t in definition.transitions):
        errors.append("nothing approves it")
    if errors:
        raise Invalid(f"the outgoing flow {label} is not acceptable", errors=errors)
