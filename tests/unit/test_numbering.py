"""Numbers and symbols: State and Party formats, công văn with the drafting department, a
sequence per issuer and period (the calendar year, or a Party committee's term), terms
imported as data and checked."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind, format_symbol, number_period
from docflow.domain.errors import Conflict, Invalid
from docflow.domain.org import CommitteeTerm, Level
from docflow.orgfile import read_org_files
from docflow.services.org import OrgImport, TermRow, UnitRow, UserRow
from tests.clock import Clock
from tests.conftest import ORIGIN, approve, embedded_settings, issue
from tests.pdfs import good_pdf


@pytest.mark.parametrize(("args", "kwargs", "symbol"), [
    ((15, "QĐ", "BNV"), {}, "15/QĐ-BNV"),
    ((5, "CV", "BNV"), {}, "05/BNV"),
    ((5, "CV", "BNV"), {"department": "VP"}, "05/BNV-VP"),
    ((1, "NQ", "TU"), {"family": "party"}, "01-NQ/TU"),
    ((125, "CV", "TU"), {"family": "party"}, "125-CV/TU"),
    ((7, "QĐ", "BCH"), {"family": "party", "department": "VP"}, "07-QĐ/BCH"),
])
def test_symbols(args: tuple[int, str, str], kwargs: dict[str, str], symbol: str) -> None:
    assert format_symbol(*args, **kwargs) == symbol


def test_the_period_is_the_year_or_the_committee_term() -> None:
    terms = [CommitteeTerm("TU", "2020-2025", date(2020, 10, 15), date(2025, 10, 14)),
             CommitteeTerm("TU", "2025-2030", date(2025, 10, 15), date(2030, 10, 14))]
    assert number_period("state", date(2025, 10, 20), terms) == "2025"
    assert number_period("party", date(2025, 10, 14), terms) == "2020-2025"
    assert number_period("party", date(2025, 10, 15), terms) == "2025-2030"
    with pytest.raises(Conflict, match="no committee term covers 2031-01-01"):
        number_period("party", date(2031, 1, 1), terms)



def test_a_party_committee_numbers_per_term(tmp_path: Path) -> None:
    clock = Clock(datetime(2025, 10, 1, 3, tzinfo=UTC))
    svc = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    try:
        svc.org.import_org(OrgImport(
            levels=[Level("province", "Tỉnh", 1)],
            units=[UnitRow("t", "TU01", "Tỉnh ủy Một", "TU", "province", "", family="party"),
                   UnitRow("t", "UB01", "UBND tỉnh Một", "UBND", "province", "")],
            users=[UserRow("t", "tu.cv", "Chuyên viên", "TU01", "officer"),
                   UserRow("t", "tu.ld", "Bí thư", "TU01", "leader"),
                   UserRow("t", "tu.vt", "Văn thư", "TU01", "clerk"),
                   UserRow("t", "ub.cv", "Chuyên viên", "UB01", "officer"),
                   UserRow("t", "ub.ld", "Chủ tịch", "UB01", "leader"),
                   UserRow("t", "ub.vt", "Văn thư", "UB01", "clerk")],
            terms=[TermRow("t", "TU01", "2020-2025", "2020-10-15", "2025-10-14"),
                   TermRow("t", "TU01", "2025-2030", "2025-10-15", "2030-10-14")]), ORIGIN)

        def issued(prefix: str, doc_type: str, department: str | None = None) -> str:
            a = {r: svc.identity.actor_by_username(f"{prefix}.{r}") for r in ("cv", "ld", "vt")}
            doc = svc.documents.draft(a["cv"], DraftSpec(doc_type, "Về việc",  # type: ignore[arg-type]
                                                         department=department), ORIGIN)
            svc.documents.attach(a["cv"], doc.id, RevisionKind.MAIN, "a.pdf",  # type: ignore[arg-type]
                                 io.BytesIO(good_pdf()), ORIGIN)
            approve(svc, a["cv"], a["ld"], doc.id)  # type: ignore[arg-type]
            done = issue(svc, a["ld"], a["vt"], doc.id)  # type: ignore[arg-type]
            return f"{done.symbol} [{done.number_period}]"

        assert issued("tu", "NQ") == "01-NQ/TU [2020-2025]"
        assert issued("tu", "CV") == "01-CV/TU [2020-2025]"  # each type on its own
        assert issued("ub", "CV", "VP") == "01/UBND-VP [2025]"
        clock.at = datetime(2025, 10, 20, 3, tzinfo=UTC)  # the new term: numbers start again
        assert issued("tu", "CT") == "01-CT/TU [2025-2030]"
        assert issued("ub", "QĐ") == "02/QĐ-UBND [2025]"  # the State year goes on
        clock.at = datetime(2031, 1, 5, 3, tzinfo=UTC)
        with pytest.raises(Conflict, match="no committee term"):
            issued("tu", "NQ")
        with pytest.raises(Invalid) as bad:
            svc.documents.draft(svc.identity.actor_by_username("ub.cv"),  # type: ignore[arg-type]
                                DraftSpec("CV", "Về việc", department="văn phòng"), ORIGIN)
        assert "department" in bad.value.errors[0]
    finally:
        svc.close()


def test_terms_are_checked_on_import(tmp_path: Path, services: Services) -> None:
    services.org.import_org(OrgImport(
        levels=[Level("province", "Tỉnh", 1)],
        units=[UnitRow("t", "TU02", "Tỉnh ủy Hai", "TU", "province", "", family="party")]),
        ORIGIN)
    with pytest.raises(Invalid) as bad:
        services.org.import_org(OrgImport(
            units=[UnitRow("u", "TU03", "Tỉnh ủy Ba", "TU", "province", "", family="dang")],
            terms=[TermRow("a", "TU02", "2020-2025", "2020-10-15", "2025-10-14"),
                   TermRow("b", "TU02", "2025-2030", "2025-10-01", "2030-10-14"),
                   TermRow("c", "TU02", "x", "2030-10-15", "2030-01-01"),
                   TermRow("d", "NOPE", "2020-2025", "2020-10-15", "2025-10-14"),
                   TermRow("e", "TU02", "y", "15/10/2030", "2035-10-14")]), ORIGIN)
    assert bad.value.errors == [
        "u: family 'dang' is not one of state, party",
        "b: term 2025-2030 overlaps term 2020-2025",
        "c: the term ends before it starts",
        "d: unknown unit 'NOPE'",
        "e: starts_on and ends_on are dates (YYYY-MM-DD)"]
    # From files: terms in YAML or in a CSV of their own.
    (tmp_path / "terms.csv").write_text("unit_code,code,starts_on,ends_on\n"
                                        "TU02,2020-2025,2020-10-15,2025-10-14\n")
    (tmp_path / "more.yaml").write_text("terms:\n  - {unit_code: TU02, code: 2025-2030, "
                                        "starts_on: 2025-10-15, ends_on: 2030-10-14}\n")
    data = read_org_files([tmp_path / "terms.csv", tmp_path / "more.yaml"])
    services.org.import_org(data, ORIGIN)
    from storage.db.uow import SqlUnitOfWorkFactory

    with SqlUnitOfWorkFactory(services.engine)() as uow:
        assert [t.code for t in uow.units.terms("TU02")] == ["2020-2025", "2025-2030"]
