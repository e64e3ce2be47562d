"""Report requests: a province asks its communes for a report by a deadline; each submits the
report it issued; the province sees who has, who has not and who was late, reminds, extends,
closes; every step audited."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.org import Actor, Role
from docflow.domain.reports import RequestStatus
from docflow.domain.routing import DispatchTarget
from docflow.web import create_app
from storage.db import tables as t
from tests.clock import Clock
from tests.conftest import ORIGIN, PASSWORD, Org, approve, embedded_settings, issue, seed_org
from tests.pdfs import good_pdf


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Org, Clock]]:
    clock = Clock()
    svc = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    yield svc, seed_org(svc), clock
    svc.close()


def report_of(svc: Services, leader: Actor, clerk: Actor, title: str) -> str:
    """A commune's report: drafted, approved, signed, numbered and sealed by the commune."""
    doc = svc.documents.draft(leader, DraftSpec("BC", title), ORIGIN)
    svc.documents.attach(leader, doc.id, RevisionKind.MAIN, "bc.pdf", io.BytesIO(good_pdf()),
                         ORIGIN)
    approve(svc, leader, leader, doc.id)
    issue(svc, leader, clerk, doc.id)
    return doc.id


def test_a_province_collects_its_communes_reports(
        world: tuple[Services, Org, Clock]) -> None:
    svc, org, clock = world
    r = svc.reports
    deadline = clock.at.date() + timedelta(days=5)
    with pytest.raises(Forbidden):  # the leader sends it
        r.request(org.officer, "P01", "Báo cáo sơ kết", "", deadline,
                  DispatchTarget(level="commune", under="P01"), ORIGIN)
    with pytest.raises(Invalid):
        r.request(org.leader, "P01", "Báo cáo", "", deadline, DispatchTarget(("P02",)), ORIGIN)
    asked = r.request(org.leader, "P01", "Báo cáo sơ kết 6 tháng", "Theo mẫu đính kèm",
                      deadline, DispatchTarget(level="commune", under="P01"), ORIGIN)
    assert asked.status is RequestStatus.OPEN
    assert asked.pending() == ["P01.X1", "P01.X2", "P01.X3"]

    x1_report = report_of(svc, org.commune_leader, org.commune_clerk, "Báo cáo xã Một")
    with pytest.raises(Forbidden):
        r.submit(org.commune_clerk, asked.id, "P01.X2", x1_report, ORIGIN)
    draft = svc.documents.draft(org.commune_leader, DraftSpec("BC", "Nháp"), ORIGIN)
    with pytest.raises(Invalid, match="issued"):
        r.submit(org.commune_clerk, asked.id, "P01.X1", draft.id, ORIGIN)
    done = r.submit(org.commune_clerk, asked.id, "P01.X1", x1_report, ORIGIN)
    assert done.pending() == ["P01.X2", "P01.X3"]
    with pytest.raises(Conflict, match="already"):
        r.submit(org.commune_clerk, asked.id, "P01.X1", x1_report, ORIGIN)
    # Another province's auditor sees nothing of it; the asked commune sees the request.
    with pytest.raises(NotFound):
        r.get(org.other_province_auditor, asked.id)
    assert r.get(org.other_clerk, asked.id).id == asked.id

    assert r.remind(org.clerk, asked.id, ORIGIN) == ["P01.X2", "P01.X3"]
    with pytest.raises(Invalid, match="later"):
        r.extend(org.leader, asked.id, deadline - timedelta(days=1), "Chờ", ORIGIN)
    r.extend(org.leader, asked.id, deadline + timedelta(days=2), "Các xã xin thêm hạn",
             ORIGIN)
    # After the deadline, a report counts as late.
    clock.at += timedelta(days=9)
    svc.identity.grant("x2clerk", "P01.X2", Role.LEADER, ORIGIN)
    x2 = svc.identity.actor_by_username("x2clerk")
    assert x2 is not None
    x2_report = report_of(svc, x2, x2, "Báo cáo xã Hai")
    late = r.submit(x2, asked.id, "P01.X2", x2_report, ORIGIN)
    assert [s.unit_code for s in late.submissions if s.late] == ["P01.X2"]

    closed = r.close(org.leader, asked.id, ORIGIN)
    assert closed.status is RequestStatus.CLOSED
    with pytest.raises(Conflict):
        r.submit(org.commune_clerk, asked.id, "P01.X3", x1_report, ORIGIN)
    with svc.engine.connect() as conn:
        actions = list(conn.execute(select(t.audit_events.c.action).where(
            t.audit_events.c.object_id == asked.id).order_by(t.audit_events.c.id)).scalars())
    assert actions == ["report.request", "report.submit", "report.remind", "report.extend",
                       "report.submit", "report.close"]
    assert [x.id for x in r.involving(org.commune_clerk)] == [asked.id]


def test_the_api(world: tuple[Services, Org, Clock]) -> None:
    svc, _org, clock = world
    client = create_app(svc).test_client()
    login = client.post("/api/v1/session", json={"username": "leader", "password": PASSWORD})
    headers = {"X-CSRF-Token": login.json["csrf_token"]}  # type: ignore[index]
    made = client.post("/api/v1/report-requests", headers=headers, json={
        "unit_code": "P01", "title": "Báo cáo quý", "units": ["P01.X1", "P01.X3"],
        "deadline": (clock.at.date() + timedelta(days=3)).isoformat()})
    assert made.status_code == 201, made.json
    assert made.json["pending"] == ["P01.X1", "P01.X3"]  # type: ignore[index]
    rid = made.json["id"]  # type: ignore[index]
    cancelled = client.post(f"/api/v1/report-requests/{rid}/cancel", headers=headers,
                            json={"reason": "Gộp vào báo cáo năm"})
    assert cancelled.json["status"] == "closed"  # type: ignore[index]
    assert cancelled.json["close_reason"] == "Gộp vào báo cáo năm"  # type: ignore[index]


# --- the compilation: a summary table (who sent, on time or late, who owes), then each report

def test_a_compilation_with_its_summary_table(world: tuple[Services, Org, Clock],
                                              tmp_path: Path) -> None:
    svc, org, clock = world
    asked = svc.reports.request(org.leader, "P01", "Báo cáo sơ kết 6 tháng", "",
                                clock.at.date() + timedelta(days=3),
                                DispatchTarget(level="commune", under="P01"), ORIGIN)
    on_time = report_of(svc, org.commune_leader, org.commune_clerk, "Báo cáo xã Một")
    svc.reports.submit(org.commune_clerk, asked.id, "P01.X1", on_time, ORIGIN)
    pdf = svc.reports.compile(org.leader, asked.id, ORIGIN)
    reader = PdfReader(io.BytesIO(pdf))
    assert [o.title for o in reader.outline] == ["Tổng hợp", "Hội LHPN xã Một — 01/BC-HPNX1"]
    assert len(reader.pages) == 2  # the table, then the one report sent
    (tmp_path / "c.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "c.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for expected in ("TỔNG HỢP BÁO CÁO: Báo cáo sơ kết 6 tháng", "Đã gửi 1/3 đơn vị",
                     "Hội LHPN xã Một", "Đúng hạn", "01/BC-HPNX1", "Hội LHPN xã Hai",
                     "Chưa gửi"):
        assert expected in text, expected
    with pytest.raises(Forbidden):  # an asked commune does not compile the province's request
        svc.reports.compile(org.commune_clerk, asked.id, ORIGIN)


def test_a_late_report_is_marked_late(world: tuple[Services, Org, Clock],
                                      tmp_path: Path) -> None:
    svc, org, clock = world
    asked = svc.reports.request(org.leader, "P01", "Báo cáo nhanh", "",
                                clock.at.date() + timedelta(days=1),
                                DispatchTarget(unit_codes=("P01.X1",)), ORIGIN)
    late = report_of(svc, org.commune_leader, org.commune_clerk, "Báo cáo muộn")
    clock.at = datetime.now(UTC) + timedelta(days=3)
    svc.reports.submit(org.commune_clerk, asked.id, "P01.X1", late, ORIGIN)
    (tmp_path / "c.pdf").write_bytes(svc.reports.compile(org.leader, asked.id, ORIGIN))
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "c.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "Gửi muộn" in text and "(1 gửi muộn)" in text
