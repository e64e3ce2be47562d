"""After issue: a new document replaces an old one (links both ways, holders told), and an
issued document's particulars are updated (holders told, the update listed)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid
from docflow.domain.notifications import NoticeKind
from docflow.domain.routing import DispatchTarget
from tests.conftest import ORIGIN, Org, approve, issue, issued_document
from tests.pdfs import good_pdf

TODAY = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def sent(svc: Services, org: Org) -> str:
    doc_id = issued_document(svc, org, "QĐ")
    svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X1", "P01.X2")),
                           ORIGIN)
    svc.queue.join()  # type: ignore[attr-defined]
    return doc_id


def test_a_new_decision_replaces_the_old(services: Services, org: Org) -> None:
    svc = services
    old_id = sent(svc, org)
    new = svc.documents.draft(org.officer, DraftSpec("QĐ", "Quyết định thay thế",
                                                     replaces=old_id), ORIGIN)
    assert new.replaces_id == old_id
    svc.documents.attach(org.officer, new.id, RevisionKind.MAIN, "qd2.pdf",
                         io.BytesIO(good_pdf("QD2")), ORIGIN)
    approve(svc, org.officer, org.leader, new.id)
    assert svc.documents.view(org.clerk, old_id, ORIGIN).replaced_by_id is None  # not yet
    issued = issue(svc, org.leader, org.clerk, new.id)
    old = svc.documents.view(org.clerk, old_id, ORIGIN)
    assert (old.replaced_by_id, issued.replaces_id) == (new.id, old_id)
    seen = svc.documents.view(org.commune_clerk, old_id, ORIGIN)  # the holder sees it too
    assert seen.replaced_by_id == new.id
    notices = svc.notifications.list(org.commune_clerk)
    assert [n.kind for n in notices][:1] == [NoticeKind.REPLACED]
    assert f"bởi {issued.symbol}" in notices[0].title
    with pytest.raises(Conflict):  # replaced once only
        svc.documents.draft(org.officer, DraftSpec("QĐ", "Lần nữa", replaces=old_id), ORIGIN)


def test_only_an_issued_document_of_ones_own_unit_is_replaced(services: Services,
                                                              org: Org) -> None:
    svc = services
    draft = svc.documents.draft(org.officer, DraftSpec("QĐ", "Dự thảo"), ORIGIN)
    with pytest.raises(Conflict):
        svc.documents.draft(org.officer, DraftSpec("QĐ", "Thay", replaces=draft.id), ORIGIN)
    old_id = sent(svc, org)
    with pytest.raises(Invalid):  # a commune does not replace the province's decision
        svc.documents.draft(org.commune_leader, DraftSpec("QĐ", "Thay", replaces=old_id),
                            ORIGIN)


def test_an_update_reaches_the_holders(services: Services, org: Org) -> None:
    svc = services
    doc_id = sent(svc, org)
    later = TODAY + timedelta(days=30)
    with pytest.raises(Invalid):
        svc.documents.update_issued(org.clerk, doc_id, "", ORIGIN, reply_due=later)
    with pytest.raises(Invalid, match="changes nothing"):
        svc.documents.update_issued(org.clerk, doc_id, "Không đổi", ORIGIN)
    with pytest.raises(Forbidden):
        svc.documents.update_issued(org.officer, doc_id, "Gia hạn", ORIGIN, reply_due=later)
    made = svc.documents.update_issued(org.clerk, doc_id, "Gia hạn báo cáo", ORIGIN,
                                       reply_due=later, abstract="Về việc kiểm tra  (đính chính)")
    assert made.changes == {"reply_due": [None, later.isoformat()],
                            "abstract": ["Về việc kiểm tra", "Về việc kiểm tra (đính chính)"]}
    assert svc.documents.view(org.commune_clerk, doc_id, ORIGIN).reply_due == later
    assert [u.reason for u in svc.documents.updates(org.other_clerk, doc_id)] == [
        "Gia hạn báo cáo"]
    assert [n.kind for n in svc.notifications.list(org.other_clerk)] == [NoticeKind.UPDATED]
