"""The service layer on the embedded adapters (SQLite file, blob folder, in-process jobs)."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import (
    BadFile,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Refused,
    TooLarge,
    Unauthenticated,
)
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import SignatureKind
from docflow.services.org import OrgImport, UnitRow, UserRow
from storage.db import tables as t
from storage.queue.inprocess import InProcessQueue
from tests.conftest import ORIGIN, PASSWORD, Org, embedded_settings, issued_document
from tests.keys import test_keys
from tests.pdfs import deflate_bomb, good_pdf


def actions(svc: Services) -> Counter[str]:
    with svc.engine.connect() as conn:
        return Counter(conn.execute(select(t.audit_events.c.action)).scalars())


def dispatch_and_wait(svc: Services, org: Org, doc_id: str, target: DispatchTarget) -> None:
    svc.documents.dispatch(org.clerk, doc_id, target, ORIGIN)
    assert isinstance(svc.queue, InProcessQueue)
    assert svc.queue.join(10)


def test_the_round_trip_from_draft_to_done(services: Services, org: Org) -> None:
    doc_id = issued_document(services, org)
    doc = services.documents.view(org.officer, doc_id, ORIGIN)
    assert (doc.status, doc.number, doc.symbol) == ("issued", 1, "01/CT-HPN")
    dispatch_and_wait(services, org, doc_id, DispatchTarget(level="commune", under="P01"))
    counts, rows = services.queries.recipients(org.clerk, doc_id)
    assert counts == {"delivered": 3}
    assert [r.unit_code for r in rows] == ["P01.X1", "P01.X2", "P01.X3"]

    entry = services.queries.inbox(org.commune_clerk)[0]
    registered = services.documents.register_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)
    assert registered.arrival_number == 1
    services.documents.complete_receipt(org.commune_leader, entry.receipt_id, ORIGIN)
    x2 = services.queries.inbox(org.other_clerk)[0]
    services.documents.return_receipt(org.other_clerk, x2.receipt_id, "gửi nhầm", ORIGIN)

    counts, rows = services.queries.recipients(org.officer, doc_id)
    assert counts == {"done": 1, "returned": 1, "delivered": 1}
    assert next(r for r in rows if r.unit_code == "P01.X2").return_reason == "gửi nhầm"
    # Every state change, both signatures, the views and the three deliveries left their trace.
    seen = actions(services)
    for action in ("document.create", "document.attach", "document.submit", "document.review",
                   "document.approve", "document.number", "document.dispatch",
                   "receipt.register", "receipt.complete", "receipt.return"):
        assert seen[action] == 1, action
    assert seen["document.sign"] == 2  # the leader's signature, then the seal that issues
    assert seen["document.view"] == 2  # issued_document's look at the result, and ours
    assert seen["document.issue"] == 0  # v1's one-step issue is not part of v2
    assert seen["receipt.deliver"] == 3


def test_numbers_are_consecutive_per_issuer_and_year(services: Services, org: Org) -> None:
    symbols = [services.documents.view(org.clerk, issued_document(services, org, kind),
                                       ORIGIN).symbol for kind in ("CT", "KH", "CV")]
    assert symbols == ["01/CT-HPN", "02/KH-HPN", "03/HPN"]


def test_numbering_twice_is_a_conflict_and_keeps_the_number(services: Services, org: Org
                                                           ) -> None:
    doc_id = issued_document(services, org)
    with pytest.raises(Conflict):
        services.documents.number(org.clerk, doc_id, ORIGIN)
    with pytest.raises(Conflict):  # nor does v1's issue give a second one
        services.documents.issue(org.clerk, doc_id, ORIGIN)
    assert services.documents.view(org.clerk, doc_id, ORIGIN).number == 1


def test_an_officer_cannot_approve_or_number(services: Services, org: Org) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    services.documents.submit(org.officer, doc.id, ORIGIN)
    with pytest.raises(Forbidden):
        services.documents.pass_review(org.officer, doc.id, ORIGIN)
    services.documents.pass_review(org.leader, doc.id, ORIGIN)
    with pytest.raises(Forbidden):
        services.documents.approve(org.officer, doc.id, ORIGIN)
    with pytest.raises(Forbidden):
        services.documents.approve(org.clerk, doc.id, ORIGIN)
    services.documents.approve(org.leader, doc.id, ORIGIN)
    services.signatures.sign(org.leader, doc.id, SignatureKind.LEADER, test_keys().leader,
                             ORIGIN, position="CHỦ TỊCH")
    with pytest.raises(Forbidden):
        services.documents.number(org.officer, doc.id, ORIGIN)


def test_another_units_document_is_not_found_not_forbidden(services: Services, org: Org) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    for outsider in (org.commune_clerk, org.commune_leader, org.other_province_auditor):
        with pytest.raises(NotFound):
            services.documents.view(outsider, doc.id, ORIGIN)
        with pytest.raises(NotFound):
            services.documents.approve(outsider, doc.id, ORIGIN)
    with pytest.raises(NotFound):
        services.documents.view(org.officer, "not-a-uuid", ORIGIN)
    # The province's auditor sees it.
    assert services.documents.view(org.auditor, doc.id, ORIGIN).id == doc.id


def test_a_recipient_sees_only_its_own_entry(services: Services, org: Org) -> None:
    doc_id = issued_document(services, org)
    dispatch_and_wait(services, org, doc_id, DispatchTarget(unit_codes=("P01.X1", "P01.X2")))
    counts, rows = services.queries.recipients(org.commune_clerk, doc_id)
    assert [r.unit_code for r in rows] == ["P01.X1"] and counts == {"delivered": 1}
    x2_entry = services.queries.inbox(org.other_clerk)[0]
    with pytest.raises(Forbidden):
        services.documents.register_receipt(org.commune_clerk, x2_entry.receipt_id, ORIGIN)
    # The sender sees the entry but does not register it for the commune.
    with pytest.raises(Forbidden):
        services.documents.register_receipt(org.clerk, x2_entry.receipt_id, ORIGIN)


def test_the_fan_out_job_is_safe_to_run_twice(services: Services, org: Org) -> None:
    doc_id = issued_document(services, org)
    dispatch = services.documents.dispatch(org.clerk, doc_id,
                                           DispatchTarget(level="commune", under="P01"), ORIGIN)
    assert isinstance(services.queue, InProcessQueue)
    services.queue.join(10)
    assert services.documents.fan_out(dispatch.id) == 0
    assert services.queries.recipients(org.clerk, doc_id)[0] == {"delivered": 3}
    # A second dispatch to an overlapping set adds only the new unit.
    dispatch_and_wait(services, org, doc_id, DispatchTarget(unit_codes=("P01.X1", "P02.X1")))
    assert services.queries.recipients(org.clerk, doc_id)[0] == {"delivered": 4}


@pytest.mark.parametrize(("target", "message"), [
    (DispatchTarget(unit_codes=("NOPE",)), "recipients are not valid"),
    (DispatchTarget(unit_codes=("P01",)), "recipients are not valid"),
    (DispatchTarget(level="hamlet", under="P01"), "unknown level"),
])
def test_bad_recipients_are_refused_before_anything_is_sent(
    services: Services, org: Org, target: DispatchTarget, message: str
) -> None:
    doc_id = issued_document(services, org)
    with pytest.raises(Invalid, match=message):
        services.documents.dispatch(org.clerk, doc_id, target, ORIGIN)
    assert services.documents.view(org.clerk, doc_id, ORIGIN).status == "issued"


def test_submitting_needs_the_main_file(services: Services, org: Org) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    with pytest.raises(Conflict, match="main file"):
        services.documents.submit(org.officer, doc.id, ORIGIN)


def test_returned_documents_go_back_to_draft_with_the_reason(services: Services, org: Org
                                                             ) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    services.documents.submit(org.officer, doc.id, ORIGIN)
    with pytest.raises(Invalid):
        services.documents.return_to_drafter(org.leader, doc.id, "", ORIGIN)
    back = services.documents.return_to_drafter(org.leader, doc.id, "Sửa trích yếu", ORIGIN)
    assert back.status == "draft"


def test_classified_drafts_are_refused(services: Services, org: Org) -> None:
    from docflow.domain.documents import Confidentiality

    with pytest.raises(Refused):
        services.documents.draft(org.officer, DraftSpec(
            "CT", "Về việc", confidentiality=Confidentiality.SECRET), ORIGIN)


def test_oversize_uploads_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    svc = bootstrap(embedded_settings(tmp_path, DOCFLOW_MAX_UPLOAD_MB="1"),
                    upgrade_embedded=True)
    try:
        from tests.conftest import seed_org

        org = seed_org(svc)
        doc = svc.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
        with pytest.raises(TooLarge):
            svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "big.pdf",
                                 io.BytesIO(b"%PDF-1.7\n" + b"0" * (2 << 20)), ORIGIN)
        assert list(svc.blobs.inventory()) == []
        assert list(svc.settings.spool_dir.iterdir()) == []
    finally:
        svc.close()


@pytest.mark.parametrize("data", [b"not a pdf", deflate_bomb(256)])
def test_bad_pdfs_are_refused_and_leave_nothing(services: Services, org: Org, data: bytes
                                                ) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    with pytest.raises(BadFile):
        services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "x.pdf",
                                  io.BytesIO(data), ORIGIN)
    assert list(services.blobs.inventory()) == []
    assert services.documents.view(org.officer, doc.id, ORIGIN).revisions == []


def test_files_are_content_addressed_and_downloads_are_audited(services: Services, org: Org
                                                               ) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    first = services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                                      io.BytesIO(good_pdf()), ORIGIN)
    second = services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a2.pdf",
                                       io.BytesIO(good_pdf()), ORIGIN)
    assert (first.seq, second.seq) == (1, 2) and first.sha256 == second.sha256
    assert len(list(services.blobs.inventory())) == 1
    got = services.documents.download(org.officer, doc.id, second.id, ORIGIN)
    assert got.url is None and got.stream is not None
    with got.stream as stream:
        assert stream.read() == good_pdf()
    assert actions(services)["document.download"] == 1


def test_orphan_blobs_are_swept(services: Services, org: Org, tmp_path: Path) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    kept = services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                                     io.BytesIO(good_pdf()), ORIGIN)
    orphan = tmp_path / "orphan.pdf"
    orphan.write_bytes(b"left behind by a crashed upload")
    import hashlib

    digest = hashlib.sha256(orphan.read_bytes()).hexdigest()
    services.blobs.put_file(orphan, digest, orphan.stat().st_size, "application/pdf")
    from tests.unit.test_marks_and_admin import GREEN, png

    image = services.marks.set_signature_image(org.leader, png(GREEN), ORIGIN)
    assert services.documents.sweep_orphan_blobs(grace=timedelta(hours=1)) == []
    assert services.documents.sweep_orphan_blobs(grace=timedelta(0)) == [digest]
    assert services.blobs.exists(kept.sha256)
    assert services.blobs.exists(image)  # named by its owner, not by a revision


def test_login_checks_the_password_and_audits_both_outcomes(services: Services, org: Org
                                                            ) -> None:
    assert services.identity.login("officer", PASSWORD, ORIGIN).id == org.officer.id
    for username, password in (("officer", "wrong-password"), ("nobody", PASSWORD)):
        with pytest.raises(Unauthenticated):
            services.identity.login(username, password, ORIGIN)
    seen = actions(services)
    assert (seen["user.login"], seen["user.login_failed"]) == (1, 2)


def test_api_tokens_are_stored_as_digests(services: Services, org: Org) -> None:
    token = services.identity.create_token(org.clerk, "scanner", ORIGIN)
    actor = services.identity.actor_for_token(token)
    assert actor is not None and actor.id == org.clerk.id
    assert services.identity.actor_for_token(token + "x") is None
    with services.engine.connect() as conn:
        assert token not in str(conn.execute(select(t.api_tokens)).all())


def test_an_org_import_with_bad_rows_imports_nothing(services: Services) -> None:
    bad = OrgImport(
        units=[UnitRow("u.csv row 2", "P9", "Tỉnh", "HPN", "province", ""),
               UnitRow("u.csv row 3", "P9.X1", "Xã", "HPNX", "commune", "P404"),
               UnitRow("u.csv row 4", "A", "A", "A", "commune", "B"),
               UnitRow("u.csv row 5", "B", "B", "B", "commune", "A"),
               UnitRow("u.csv row 6", "P9", "Dup", "D", "province", "", valid_from="2025-13-01")],
        users=[UserRow("users.csv row 2", "ok", "Ok", "P9", "wizard"),
               UserRow("users.csv row 3", "ok2", "Ok", "NOPE", "clerk")])
    with pytest.raises(Invalid) as info:
        services.org.import_org(bad, ORIGIN)
    text = "\n".join(info.value.errors)
    for expected in ("u.csv row 3: unknown parent unit 'P404'", "form a loop",
                     "u.csv row 6: unit 'P9' appears twice", "not a date",
                     "users.csv row 2: unknown role 'wizard'",
                     "users.csv row 3: unknown unit 'NOPE'"):
        assert expected in text
    with services.engine.connect() as conn:
        assert conn.execute(select(t.units)).all() == []


def test_an_org_import_builds_paths_levels_and_successors(services: Services) -> None:
    units = [UnitRow("r", "X2", "Xã mới", "X2", "commune", "P", valid_from="2025-07-01"),
             UnitRow("r", "X1", "Xã cũ", "X1", "commune", "P", successor_code="X2"),
             UnitRow("r", "P", "Tỉnh", "P", "province", "")]
    report = services.org.import_org(OrgImport(units=units), ORIGIN)
    assert (report.units_created, report.levels_created) == (3, 2)
    with services.engine.connect() as conn:
        rows = {r.code: r for r in conn.execute(select(t.units))}
        levels = {r.code: r.rank for r in conn.execute(select(t.levels))}
    assert rows["X1"].path == "P/X1/" and rows["X1"].successor_code == "X2"
    assert levels == {"province": 0, "commune": 1}
    # Importing again updates instead of duplicating.
    again = services.org.import_org(OrgImport(units=units), ORIGIN)
    assert (again.units_created, again.units_updated) == (0, 3)


class LosingQueue:
    """A queue whose enqueues vanish, as when a process dies right after commit."""

    def __init__(self) -> None:
        self.lost: list[tuple[str, tuple[str, ...]]] = []

    def enqueue(self, job: str, *args: str, delay: timedelta | None = None,
                key: str | None = None) -> None:
        self.lost.append((job, args))

    def check(self) -> None:
        pass


def test_a_dispatch_whose_job_was_lost_is_picked_up_again(tmp_path: Path) -> None:
    from tests.conftest import seed_org

    settings = embedded_settings(tmp_path)
    lossy = bootstrap(settings, queue=LosingQueue(), upgrade_embedded=True)
    org = seed_org(lossy)
    doc_id = issued_document(lossy, org)
    dispatch = lossy.documents.dispatch(org.clerk, doc_id, DispatchTarget(level="commune",
                                                                          under="P01"), ORIGIN)
    assert lossy.documents.dispatch_state(dispatch.id).status == "pending"  # type: ignore[union-attr]
    lossy.close()
    restarted = bootstrap(settings)
    try:
        assert restarted.documents.requeue_stalled(timedelta(minutes=5)) == 0  # too recent
        assert restarted.documents.requeue_stalled(timedelta(0)) == 1
        assert isinstance(restarted.queue, InProcessQueue) and restarted.queue.join(10)
        assert restarted.queries.recipients(org.clerk, doc_id)[0] == {"delivered": 3}
    finally:
        restarted.close()


def test_a_document_in_flight_keeps_its_workflow_version(services: Services, org: Org
                                                         ) -> None:
    """A new version of a flow applies to documents started after it; the others finish the
    flow they started (here a document started on outgoing v1, before v2 shipped, is approved
    straight from its submission and numbered by v1's one-step issue; a new one goes through
    v2's review round and may not be issued that way)."""

    def new(title: str) -> str:
        doc = services.documents.draft(org.officer, DraftSpec("CV", title), ORIGIN)
        services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "cv.pdf",
                                  io.BytesIO(good_pdf()), ORIGIN)
        return doc.id

    before = new("Trước khi đổi quy trình")
    with services.engine.begin() as conn:  # as a document drafted before the upgrade is
        conn.execute(update(t.documents).where(t.documents.c.id == before)
                     .values(workflow_version=1))
    after = new("Sau khi đổi quy trình")

    docs = services.documents
    assert docs.view(org.leader, before, ORIGIN).workflow_version == 1
    assert docs.view(org.leader, after, ORIGIN).workflow_version == 2
    assert docs.allowed_actions(org.leader, docs.view(org.leader, before, ORIGIN)) == ["submit"]
    assert docs.submit(org.officer, before, ORIGIN).status == "submitted"
    assert docs.approve(org.leader, before, ORIGIN).status == "approved"
    issued = docs.issue(org.clerk, before, ORIGIN)
    assert (issued.status, issued.number) == ("issued", 1)
    assert docs.submit(org.officer, after, ORIGIN).status == "review"
    with pytest.raises(Conflict, match="'approve' is not possible in state 'review'"):
        docs.approve(org.leader, after, ORIGIN)
    docs.pass_review(org.leader, after, ORIGIN)
    assert docs.approve(org.leader, after, ORIGIN).status == "approved"
    with pytest.raises(Conflict, match="'issue' is not possible"):
        docs.issue(org.clerk, after, ORIGIN)


def test_upkeep_is_planned_at_the_start_of_the_next_period(tmp_path: Path) -> None:
    """Whoever plans it, and when, the next run is at the next period's start, once."""
    from datetime import UTC, datetime

    from docflow.services.maintenance import Maintenance

    class Recording:
        def __init__(self) -> None:
            self.planned: list[tuple[str, timedelta | None, str | None]] = []

        def enqueue(self, job: str, *args: str, delay: timedelta | None = None,
                    key: str | None = None) -> None:
            self.planned.append((job, delay, key))

        def check(self) -> None:
            pass

    class At:
        def __init__(self, at: datetime) -> None:
            self.at = at

        def now(self) -> datetime:
            return self.at

    queue = Recording()
    clock = At(datetime(2026, 11, 22, 2, 3, 30, tzinfo=UTC))
    class NoMail:
        mails = False

    upkeep = Maintenance(None, queue, clock, NoMail(), None)  # type: ignore[arg-type]
    upkeep.start()
    clock.at = datetime(2026, 11, 22, 2, 4, 59, tzinfo=UTC)
    upkeep.plan("requeue_stalled")
    (job1, delay1, key1), (job2, delay2, _), (job4, delay4, _), (job5, delay5, _), \
        (job6, delay6, _), (job3, delay3, key3) = queue.planned
    assert (job1, job2, job3) == ("requeue_stalled", "sweep_blobs", "requeue_stalled")
    assert job4 == "send_reminders" and delay4 == timedelta(minutes=56, seconds=30)
    # The audit log: sequenced every 2 s, its head signed every minute.
    assert (job5, delay5) == ("sequence_audit", timedelta(seconds=2))
    assert (job6, delay6) == ("issue_tree_head", timedelta(seconds=30))
    assert delay1 == timedelta(minutes=1, seconds=30) and delay3 == timedelta(seconds=1)
    assert key1 == key3  # both aim at 02:05: the queue keeps one
    assert delay2 == timedelta(hours=3, minutes=56, seconds=30)  # 06:00 UTC
