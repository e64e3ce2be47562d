"""Outgoing v2: review rounds, the leader's signature, the number, the seal that issues, and an
organisation's own variant of the flow."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from docflow.bootstrap import Services, bootstrap
from docflow.cli import main
from docflow.domain.audit import Action
from docflow.domain.documents import DocumentStatus, DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import SignatureKind
from docflow.services.documents import flows
from storage.db import tables as t
from tests.conftest import ORIGIN, Org, approve, embedded_settings, issue, seed_org
from tests.keys import test_keys
from tests.pdfs import good_pdf

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "workflows" / "examples"


def drafted(svc: Services, org: Org, *, attachment: bool = False) -> str:
    doc = svc.documents.draft(org.officer, DraftSpec("CT", "Về việc ban hành chỉ thị"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "ct.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    if attachment:
        svc.documents.attach(org.officer, doc.id, RevisionKind.ATTACHMENT, "phu-luc.pdf",
                             io.BytesIO(good_pdf("PHU LUC")), ORIGIN)
    return doc.id


def actions(svc: Services, doc_id: str) -> list[str]:
    with svc.engine.connect() as conn:
        a = t.audit_events.c
        return [r.action for r in conn.execute(
            select(a.action).where(a.document_id == doc_id).order_by(a.id))]


def test_the_whole_flow_in_decree_30_order(services: Services, org: Org) -> None:
    docs, keys = services.documents, test_keys()
    doc_id = drafted(services, org)
    assert docs.submit(org.officer, doc_id, ORIGIN).status is DocumentStatus.REVIEW
    assert docs.pass_review(org.leader, doc_id, ORIGIN).status is DocumentStatus.SUBMITTED
    assert docs.approve(org.leader, doc_id, ORIGIN).status is DocumentStatus.APPROVED
    with pytest.raises(Conflict):  # no number before the leader has signed
        docs.number(org.clerk, doc_id, ORIGIN)
    with pytest.raises(Conflict):  # v1's one-step issue is not part of v2
        docs.issue(org.clerk, doc_id, ORIGIN)
    services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                             position="CHỦ TỊCH")
    assert docs.view(org.clerk, doc_id, ORIGIN).status is DocumentStatus.SIGNED
    with pytest.raises(Conflict):  # the seal comes after the number
        services.signatures.sign(org.clerk, doc_id, SignatureKind.SEAL, keys.seal, ORIGIN)
    numbered = docs.number(org.clerk, doc_id, ORIGIN)
    assert numbered.status is DocumentStatus.NUMBERED
    assert (numbered.number, numbered.symbol) == (1, "01/CT-HPN")
    assert docs.allowed_actions(org.clerk, numbered) == ["release", "seal"]
    services.signatures.sign(org.clerk, doc_id, SignatureKind.SEAL, keys.seal, ORIGIN)
    issued = docs.view(org.clerk, doc_id, ORIGIN)
    assert issued.status is DocumentStatus.ISSUED and issued.number == 1
    assert actions(services, doc_id) == [
        "document.create", "document.attach", "document.submit", "document.review",
        "document.approve", "document.sign", "document.view", "document.number",
        "document.sign", "document.view"]
    docs.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X1",)), ORIGIN)
    assert docs.view(org.clerk, doc_id, ORIGIN).status is DocumentStatus.DISPATCHED


def test_review_rounds_comment_return_resubmit(services: Services, org: Org) -> None:
    docs = services.documents
    doc_id = drafted(services, org)
    docs.submit(org.officer, doc_id, ORIGIN)
    docs.comment(org.leader, doc_id, "Bổ sung căn cứ pháp lý", ORIGIN)
    with pytest.raises(Invalid):
        docs.comment(org.leader, doc_id, "   ", ORIGIN)
    with pytest.raises(Invalid):  # a return says why
        docs.return_to_drafter(org.leader, doc_id, "", ORIGIN)
    with pytest.raises(Forbidden):  # the officer does not pass their own draft
        docs.pass_review(org.officer, doc_id, ORIGIN)
    docs.return_to_drafter(org.leader, doc_id, "Thiếu căn cứ", ORIGIN)
    docs.attach(org.officer, doc_id, RevisionKind.MAIN, "ct-v2.pdf",
                io.BytesIO(good_pdf("V2")), ORIGIN)
    approve(services, org.officer, org.leader, doc_id)
    trail = docs.review_trail(org.officer, doc_id)
    assert [(e.action, e.details.get("reason") or e.details.get("comment")) for e in trail] == [
        (Action.DOCUMENT_SUBMIT, None), (Action.DOCUMENT_COMMENT, "Bổ sung căn cứ pháp lý"),
        (Action.DOCUMENT_RETURN, "Thiếu căn cứ"), (Action.DOCUMENT_SUBMIT, None),
        (Action.DOCUMENT_REVIEW, None), (Action.DOCUMENT_APPROVE, None)]
    with pytest.raises(NotFound):  # another unit sees nothing of it
        docs.review_trail(org.commune_clerk, doc_id)


def test_initials_during_review_then_leader(services: Services, org: Org) -> None:
    keys = test_keys()
    doc_id = drafted(services, org)
    services.documents.submit(org.officer, doc_id, ORIGIN)
    services.signatures.sign(org.leader, doc_id, SignatureKind.INITIAL, keys.leader, ORIGIN)
    services.documents.pass_review(org.leader, doc_id, ORIGIN)
    services.documents.approve(org.leader, doc_id, ORIGIN)
    issued = issue(services, org.leader, org.clerk, doc_id)
    assert issued.status is DocumentStatus.ISSUED
    kinds = [s.kind for s in services.signatures.signatures(org.clerk, doc_id)]
    assert kinds == [SignatureKind.INITIAL, SignatureKind.LEADER, SignatureKind.SEAL]


def test_a_released_number_goes_to_the_next_issue(services: Services, org: Org) -> None:
    docs, keys = services.documents, test_keys()
    ids = [drafted(services, org) for _ in range(3)]
    for doc_id in ids:
        approve(services, org.officer, org.leader, doc_id)
        services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                                 position="CHỦ TỊCH")
    a, b, c = ids
    assert docs.number(org.clerk, a, ORIGIN).number == 1
    assert docs.number(org.clerk, b, ORIGIN).number == 2
    with pytest.raises(Invalid):
        docs.release_number(org.clerk, a, "", ORIGIN)
    released = docs.release_number(org.clerk, a, "Lãnh đạo dừng ban hành", ORIGIN)
    assert (released.status, released.number, released.symbol) == (
        DocumentStatus.SIGNED, None, None)
    assert docs.number(org.clerk, c, ORIGIN).number == 1  # the number given back
    assert docs.number(org.clerk, a, ORIGIN).number == 3
    for doc_id in ids:
        services.signatures.sign(org.clerk, doc_id, SignatureKind.SEAL, keys.seal, ORIGIN)
    page = services.queries.outgoing_register(org.clerk)
    assert sorted(e.number for e in page) == [1, 2, 3]
    with services.engine.connect() as conn:
        a_col = t.audit_events.c
        row = conn.execute(select(a_col.details).where(
            a_col.action == Action.DOCUMENT_RELEASE_NUMBER.value)).one()
    assert row.details["number"] == 1 and row.details["reason"] == "Lãnh đạo dừng ban hành"


def test_a_reserved_number_is_not_in_the_register(services: Services, org: Org) -> None:
    keys = test_keys()
    doc_id = drafted(services, org)
    approve(services, org.officer, org.leader, doc_id)
    services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                             position="CHỦ TỊCH")
    services.documents.number(org.clerk, doc_id, ORIGIN)
    assert services.queries.outgoing_register(org.clerk) == []


def test_returned_after_signing_needs_a_corrected_file(services: Services, org: Org) -> None:
    docs, keys = services.documents, test_keys()
    doc_id = drafted(services, org)
    approve(services, org.officer, org.leader, doc_id)
    services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                             position="CHỦ TỊCH")
    with pytest.raises(Forbidden):  # the form check is the clerk's
        docs.return_to_drafter(org.leader, doc_id, "Sai thể thức", ORIGIN)
    docs.return_to_drafter(org.clerk, doc_id, "Sai thể thức: thiếu nơi nhận", ORIGIN)
    with pytest.raises(Conflict, match="corrected file"):
        docs.submit(org.officer, doc_id, ORIGIN)
    docs.attach(org.officer, doc_id, RevisionKind.MAIN, "ct-sua.pdf",
                io.BytesIO(good_pdf("SUA")), ORIGIN)
    approve(services, org.officer, org.leader, doc_id)
    assert issue(services, org.leader, org.clerk, doc_id).status is DocumentStatus.ISSUED


def test_attachments_are_signed_before_dispatch(services: Services, org: Org) -> None:
    docs, keys = services.documents, test_keys()
    doc_id = drafted(services, org, attachment=True)
    approve(services, org.officer, org.leader, doc_id)
    issued = issue(services, org.leader, org.clerk, doc_id)
    target = DispatchTarget(unit_codes=("P01.X1",))
    with pytest.raises(Conflict) as refused:
        docs.dispatch(org.clerk, doc_id, target, ORIGIN)
    assert refused.value.details["attachments"] == ["phu-luc.pdf"]
    attachment = next(r for r in issued.revisions if r.kind is RevisionKind.ATTACHMENT)
    services.signatures.sign(org.clerk, doc_id, SignatureKind.ATTACHMENT, keys.seal, ORIGIN,
                             revision_id=attachment.id)
    docs.dispatch(org.clerk, doc_id, target, ORIGIN)


# --- an organisation's variant ----------------------------------------------------------------

def test_a_commune_runs_its_variant_without_code(tmp_path: Path) -> None:
    svc = bootstrap(embedded_settings(tmp_path, DOCFLOW_WORKFLOWS_DIR=str(EXAMPLES)),
                    upgrade_embedded=True)
    try:
        org = seed_org(svc)
        commune = svc.documents.draft(org.commune_leader, DraftSpec("TB", "Thông báo họp"),
                                      ORIGIN)
        province = svc.documents.draft(org.officer, DraftSpec("TB", "Thông báo"), ORIGIN)
        assert (commune.workflow, commune.workflow_version) == ("outgoing-no-review", 1)
        assert (province.workflow, province.workflow_version) == ("outgoing", 2)
        svc.documents.attach(org.commune_leader, commune.id, RevisionKind.MAIN, "tb.pdf",
                             io.BytesIO(good_pdf()), ORIGIN)
        submitted = svc.documents.submit(org.commune_leader, commune.id, ORIGIN)
        assert submitted.status is DocumentStatus.SUBMITTED  # no review round
        svc.documents.approve(org.commune_leader, commune.id, ORIGIN)
        issued = issue(svc, org.commune_leader, org.commune_clerk, commune.id)
        assert (issued.status, issued.symbol) == (DocumentStatus.ISSUED, "01/TB-HPNX1")
    finally:
        svc.close()


def _variant(**changes: object) -> dict[str, object]:
    data = json.loads((EXAMPLES / "outgoing-no-review.json").read_text("utf-8"))
    data.update(changes)
    return data


@pytest.mark.parametrize(("edit", "fault"), [
    (lambda d: d["transitions"].append(
        {"trigger": "publish", "from": "approved", "to": "issued",
         "relation": "drafting_unit", "roles": ["clerk"]}), "not part of the outgoing tail"),
    (lambda d: d["transitions"].__setitem__(2, {
        "trigger": "approve", "from": "submitted", "to": "approved",
        "relation": "drafting_unit", "roles": ["leader", "officer"]}), "only a leader"),
    (lambda d: d["transitions"].__setitem__(6, {
        "trigger": "number", "from": "signed", "to": "numbered",
        "relation": "drafting_unit", "roles": ["clerk", "officer"]}), "lets officer"),
    (lambda d: d["transitions"].__setitem__(8, {
        "trigger": "seal", "from": "numbered", "to": "issued",
        "relation": "drafting_unit", "roles": ["clerk", "leader"]}), "lets leader"),
    (lambda d: d["transitions"].__setitem__(1, {
        "trigger": "return", "from": "signed", "to": "draft",
        "relation": "drafting_unit", "roles": ["clerk"]}), "must ask for a reason"),
])
def test_a_variant_that_could_skip_a_signature_is_refused(edit: object, fault: str) -> None:
    import workflows

    data = _variant()
    edit(data)  # type: ignore[operator]
    with pytest.raises(Invalid) as refused:
        flows([workflows.load(data)])
    assert any(fault in e for e in refused.value.errors), refused.value.errors


def test_workflows_check_names_the_fault(tmp_path: Path) -> None:
    data = _variant()
    data["transitions"].append({"trigger": "publish", "from": "approved",  # type: ignore
                                "to": "issued", "relation": "drafting_unit",
                                "roles": ["clerk"]})
    (tmp_path / "bad.json").write_text(json.dumps(data), "utf-8")
    env = {"DOCFLOW_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(main, ["workflows", "check", str(tmp_path)], env=env)
    assert result.exit_code == 2 and "publish" in result.output
    result = CliRunner().invoke(main, ["workflows", "check", str(EXAMPLES)], env=env)
    assert result.exit_code == 0, result.output
    assert "outgoing-no-review\t1\tvariant of outgoing for commune" in result.output
