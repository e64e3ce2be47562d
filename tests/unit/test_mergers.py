"""Merging units (the 2025 reform): the successor takes over people, sub-units, open entries,
unsigned drafts and owed reports; the merged unit's history stays readable under its name."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from docflow.bootstrap import Services
from docflow.cli import main
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid
from docflow.domain.org import Level
from docflow.domain.routing import DispatchTarget, ReceiptStatus
from docflow.services.org import OrgImport, UnitRow, UserRow
from tests.conftest import ORIGIN, PASSWORD, Org, issued_document
from tests.pdfs import good_pdf

TODAY = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def branches(svc: Services) -> None:
    svc.org.import_org(OrgImport(
        levels=[Level("branch", "Chi hội", 3)],
        units=[UnitRow("t", "P01.X2.B1", "Chi hội Một", "CH1", "branch", "P01.X2")],
        users=[UserRow("t", "x2officer", "Cán bộ xã Hai", "P01.X2", "officer"),
               UserRow("t", "padmin", "Quản trị tỉnh", "P01", "admin")]), ORIGIN)
    for name in ("x2officer", "padmin"):
        svc.identity.set_password(name, PASSWORD, ORIGIN)


def test_the_successor_takes_over_and_history_stays(services: Services, org: Org) -> None:
    svc = services
    branches(svc)
    doc_id = issued_document(svc, org)
    svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X2",)), ORIGIN)
    svc.queue.join()  # type: ignore[attr-defined]
    entry = svc.queries.inbox(org.other_clerk)[0].receipt_id
    svc.documents.register_receipt(org.other_clerk, entry, ORIGIN)
    x2officer = svc.identity.actor_by_username("x2officer")
    assert x2officer is not None
    draft = svc.documents.draft(x2officer, DraftSpec("BC", "Báo cáo xã Hai"), ORIGIN)

    report = svc.mergers.merge(["P01.X2"], "P01.X1", TODAY, ORIGIN)
    assert report.children_moved == ["P01.X2.B1"]
    assert report.drafts_moved == [draft.id]

    # the successor's clerk has the merged commune's open entry and register
    x1 = svc.identity.actor_by_username("x1clerk")
    assert x1 is not None and x1.primary_unit() == "P01.X1"
    assert [e.receipt_id for e in svc.queries.inbox(x1)] == [entry]
    register = svc.queries.incoming_register(x1)
    assert [(e.unit_code, e.arrival_number) for e in register] == [("P01.X2", 1)]
    done = svc.documents.complete_receipt(x1, entry, ORIGIN)
    assert done.status is ReceiptStatus.DONE and done.unit_code == "P01.X2"

    # the merged commune's people now work for the successor
    moved = svc.identity.actor_by_username("x2officer")
    assert moved is not None and moved.primary_unit() == "P01.X1"
    assert svc.documents.view(moved, draft.id, ORIGIN).unit_code == "P01.X1"
    with pytest.raises(Conflict, match="merged"):
        svc.documents.draft(moved, DraftSpec("BC", "Nữa"), ORIGIN, unit_code="P01.X2")

    # the branch moved with its subtree; dispatching to the merged unit is refused
    with pytest.raises(Invalid) as refused:
        svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X2",)),
                               ORIGIN)
    assert refused.value.errors == ["unit 'P01.X2' is not active (merged or closed)"]
    svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(level="branch", under="P01.X1"),
                           ORIGIN)
    svc.queue.join()  # type: ignore[attr-defined]
    _, rows = svc.queries.recipients(org.clerk, doc_id)
    assert sorted(r.unit_code for r in rows) == ["P01.X2", "P01.X2.B1"]


def test_owed_reports_become_the_successors(services: Services, org: Org) -> None:
    svc = services
    both = svc.reports.request(org.leader, "P01", "Báo cáo A", "", TODAY + timedelta(days=9),
                               DispatchTarget(unit_codes=("P01.X1", "P01.X2")), ORIGIN)
    only = svc.reports.request(org.leader, "P01", "Báo cáo B", "", TODAY + timedelta(days=9),
                               DispatchTarget(unit_codes=("P01.X2",)), ORIGIN)
    report = svc.mergers.merge(["P01.X2"], "P01.X1", TODAY, ORIGIN)
    assert report.reports_moved == 2
    assert svc.reports.get(org.leader, both.id).pending() == ["P01.X1"]
    assert svc.reports.get(org.leader, only.id).pending() == ["P01.X1"]


def test_a_bad_merger_is_refused_whole(services: Services, org: Org) -> None:
    svc = services
    with pytest.raises(Invalid) as refused:
        svc.mergers.merge(["P01.X2", "NOPE", "P01"], "P01.X1", TODAY, ORIGIN)
    text = " ".join(refused.value.errors)
    assert "unknown unit 'NOPE'" in text
    svc.mergers.merge(["P01.X2"], "P01.X1", TODAY, ORIGIN)
    with pytest.raises(Invalid, match="merger"):
        svc.mergers.merge(["P01.X2"], "P01.X3", TODAY, ORIGIN)  # merged already
    with pytest.raises(Forbidden):
        svc.mergers.merge(["P01.X3"], "P01.X1", TODAY, ORIGIN, by=org.leader)


def test_merge_from_the_command_line(services: Services, org: Org) -> None:
    env = {"DOCFLOW_DATA_DIR": str(services.settings.data_dir),
           "DOCFLOW_FAST_PASSWORD_HASHING": "1"}
    result = CliRunner().invoke(main, ["org", "merge", "P01.X2", "P01.X3", "--into", "P01.X1",
                                       "--on", date(2026, 7, 1).isoformat()], env=env)
    assert result.exit_code == 0, result.output
    assert "merged P01.X2, P01.X3 into P01.X1 from 2026-07-01" in result.output
    again = CliRunner().invoke(main, ["org", "merge", "P01.X2", "--into", "P01.X1"], env=env)
    assert again.exit_code != 0 and "not active" in again.output


def test_history_of_a_merged_unit_stays_visible_to_its_own(services: Services,
                                                            org: Org) -> None:
    svc = services
    doc = svc.documents.draft(org.commune_leader, DraftSpec("TB", "Thông báo xã Một"), ORIGIN)
    svc.documents.attach(org.commune_leader, doc.id, RevisionKind.MAIN, "tb.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    svc.mergers.merge(["P01.X1"], "P01.X3", TODAY, ORIGIN)
    leader = svc.identity.actor_by_username("x1leader")
    assert leader is not None
    assert svc.documents.view(leader, doc.id, ORIGIN).unit_code == "P01.X3"
