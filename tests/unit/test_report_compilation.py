"""The requesting unit compiles the reports it received: one PDF with a summary table (who
sent, on time or late, who still owes) and each report, bookmarked by unit."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from docflow.bootstrap import Services, bootstrap
from docflow.domain.errors import Forbidden
from docflow.domain.routing import DispatchTarget
from tests.conftest import ORIGIN, Org, embedded_settings, seed_org
from tests.unit.test_reports import Clock, report_of


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Org, Clock]]:
    clock = Clock()
    svc = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    yield svc, seed_org(svc), clock
    svc.close()


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
