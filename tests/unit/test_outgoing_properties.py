"""Properties of the outgoing flow over random action sequences (hypothesis): whatever anyone
tries, in any order,

- nothing is issued without approval and both signatures (the leader's, then the seal);
- the numbers of a sequence, those held by documents and those given back, are exactly 1..N;
- every change leaves exactly one audit event, and a refusal leaves none and changes nothing;
- nobody acts outside their role or their unit.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DocumentStatus, DraftSpec, RevisionKind
from docflow.domain.errors import DomainError
from docflow.domain.org import Actor
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import SignatureKind
from storage.db import tables as t
from tests.conftest import ORIGIN, Org, embedded_settings, seed_org
from tests.keys import test_keys
from tests.pdfs import good_pdf

ACTIONS = ("submit", "comment", "pass", "return", "approve", "sign", "number", "release",
           "seal", "attach", "issue", "dispatch")
PEOPLE = ("officer", "leader", "clerk", "auditor", "commune_clerk", "commune_leader")
MAY = {  # who, in the drafting unit, may succeed at each action
    "submit": {"officer", "leader", "clerk"}, "comment": {"officer", "leader", "clerk"},
    "pass": {"leader"}, "return": {"leader", "clerk"}, "approve": {"leader"},
    "sign": {"leader"}, "number": {"clerk"}, "release": {"leader", "clerk"},
    "seal": {"clerk"}, "attach": {"officer", "leader", "clerk"}, "issue": set(),
    "dispatch": {"clerk"},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, Org]]:
    svc = bootstrap(embedded_settings(Path(tmp_path_factory.mktemp("props"))),
                    upgrade_embedded=True)
    yield svc, seed_org(svc)
    svc.close()


def act(svc: Services, who: Actor, action: str, doc_id: str) -> None:
    docs, keys = svc.documents, test_keys()
    match action:
        case "submit":
            docs.submit(who, doc_id, ORIGIN)
        case "comment":
            docs.comment(who, doc_id, "Góp ý", ORIGIN)
        case "pass":
            docs.pass_review(who, doc_id, ORIGIN)
        case "return":
            docs.return_to_drafter(who, doc_id, "Chưa đạt", ORIGIN)
        case "approve":
            docs.approve(who, doc_id, ORIGIN)
        case "sign":
            svc.signatures.sign(who, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                                position="CHỦ TỊCH")
        case "number":
            docs.number(who, doc_id, ORIGIN)
        case "release":
            docs.release_number(who, doc_id, "Dừng ban hành", ORIGIN)
        case "seal":
            svc.signatures.sign(who, doc_id, SignatureKind.SEAL, keys.seal, ORIGIN)
        case "attach":
            docs.attach(who, doc_id, RevisionKind.MAIN, "sua.pdf",
                        io.BytesIO(good_pdf("SUA")), ORIGIN)
        case "issue":
            docs.issue(who, doc_id, ORIGIN)
        case "dispatch":
            docs.dispatch(who, doc_id, DispatchTarget(unit_codes=("P01.X1",)), ORIGIN)


def snapshot(svc: Services, doc_id: str) -> tuple[object, ...]:
    with svc.engine.connect() as conn:
        d = conn.execute(select(t.documents).where(t.documents.c.id == doc_id)).one()
        # the document's own events (a dispatch's fan-out job adds the recipients' later)
        events = conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.document_id == doc_id, t.audit_events.c.object_type == "document",
            t.audit_events.c.action != "document.view")).scalar_one()
        signatures = conn.execute(select(t.signatures.c.kind).where(
            t.signatures.c.document_id == doc_id).order_by(t.signatures.c.signed_at)).all()
    return d.status, d.number, d.symbol, events, tuple(k for (k,) in signatures)


def check_numbers(svc: Services) -> None:
    with svc.engine.connect() as conn:
        held = [n for (n,) in conn.execute(select(t.documents.c.number).where(
            t.documents.c.unit_code == "P01", t.documents.c.number.is_not(None)))]
        back = [n for (n,) in conn.execute(select(t.released_numbers.c.number).where(
            t.released_numbers.c.unit_code == "P01"))]
        last = conn.execute(select(t.sequences.c.last_value).where(
            t.sequences.c.unit_code == "P01")).scalar() or 0
    assert sorted(held + back) == list(range(1, last + 1))


step = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(PEOPLE))
PATH = [("attach", "officer"), ("submit", "officer"), ("comment", "clerk"),
        ("pass", "leader"), ("approve", "leader"), ("sign", "leader"), ("number", "clerk"),
        ("seal", "clerk"), ("dispatch", "clerk")]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=0, max_size=20),
       depth=st.integers(0, len(PATH)),
       more=st.lists(step, min_size=0, max_size=10))
def test_random_sequences_keep_the_rules(world: tuple[Services, Org],
                                         steps: list[tuple[str, str]], depth: int,
                                         more: list[tuple[str, str]]) -> None:
    svc, org = world
    people = {name: getattr(org, name) for name in PEOPLE}
    doc = svc.documents.draft(org.officer, DraftSpec("QĐ", "Về việc thử"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "qd.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    # Random people at random moments, then the flow's own path as far as `depth` (what the
    # random steps already did is refused there), then random again: runs reach the tail of
    # the flow, and its refusals and ways back from there.
    plan = steps + PATH[:depth] + more
    for action, name in plan:
        before = snapshot(svc, doc.id)
        try:
            act(svc, people[name], action, doc.id)
        except DomainError:
            assert snapshot(svc, doc.id) == before, f"a refused {action} changed something"
            continue
        after = snapshot(svc, doc.id)
        role = name if not name.startswith("commune") else None
        assert role in MAY[action], f"{name} could {action}"
        assert after[3] == before[3] + 1, f"{action} left {after[3] - before[3]} events"
        status, kinds = DocumentStatus(after[0]), after[4]
        if status in (DocumentStatus.ISSUED, DocumentStatus.DISPATCHED):
            assert "leader" in kinds and "seal" in kinds
            assert kinds.index("leader") < kinds.index("seal")
            assert after[1] is not None
            with svc.engine.connect() as conn:
                approvals = conn.execute(select(func.count()).select_from(
                    t.audit_events).where(t.audit_events.c.document_id == doc.id,
                                          t.audit_events.c.action == "document.approve")
                ).scalar_one()
            assert approvals >= 1
        if status in (DocumentStatus.NUMBERED, DocumentStatus.ISSUED,
                      DocumentStatus.DISPATCHED):
            assert after[1] is not None
        else:
            assert after[1] is None
        check_numbers(svc)
    event(f"ended {snapshot(svc, doc.id)[0]}")
