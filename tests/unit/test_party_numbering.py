"""Party committees (Guideline 36-HD/VPTW): each type numbered on its own within a term, the
Party's own abbreviations and types; a committee whose rules keep one sequence per term sets
DOCFLOW_PARTY_NUMBERS_PER_TYPE=false."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind, format_symbol, number_register
from docflow.domain.errors import Invalid
from docflow.domain.org import Level
from docflow.services.org import OrgImport, TermRow, UnitRow, UserRow
from tests.clock import Clock
from tests.conftest import ORIGIN, approve, embedded_settings, issue
from tests.pdfs import good_pdf


def committee(tmp_path: Path, **env: str) -> Services:
    svc = bootstrap(embedded_settings(tmp_path, **env),
                    clock=Clock(datetime(2026, 3, 2, 3, tzinfo=UTC)), upgrade_embedded=True)
    svc.org.import_org(OrgImport(
        levels=[Level("province", "Tỉnh", 1)],
        units=[UnitRow("t", "TU01", "Tỉnh ủy Một", "TU", "province", "", family="party"),
               UnitRow("t", "UB01", "UBND tỉnh Một", "UBND", "province", "")],
        users=[UserRow("t", f"{p}.{r}", r, unit, role) for p, unit in (("tu", "TU01"),
                                                                        ("ub", "UB01"))
               for r, role in (("cv", "officer"), ("ld", "leader"), ("vt", "clerk"))],
        terms=[TermRow("t", "TU01", "2025-2030", "2025-10-15", "2030-10-14")]), ORIGIN)
    return svc


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    built = committee(tmp_path)
    yield built
    built.close()


def issued(svc: Services, prefix: str, doc_type: str) -> str:
    cv, ld, vt = (svc.identity.actor_by_username(f"{prefix}.{r}") for r in ("cv", "ld", "vt"))
    assert cv is not None and ld is not None and vt is not None
    doc = svc.documents.draft(cv, DraftSpec(doc_type, "Về việc"), ORIGIN)
    svc.documents.attach(cv, doc.id, RevisionKind.MAIN, "a.pdf", io.BytesIO(good_pdf()),
                         ORIGIN)
    approve(svc, cv, ld, doc.id)
    return str(issue(svc, ld, vt, doc.id).symbol)


def test_each_type_has_its_own_numbers_within_the_term(svc: Services) -> None:
    assert [issued(svc, "tu", t) for t in ("NQ", "CT", "NQ", "KL", "QyĐ", "CV")] == [
        "01-NQ/TU", "01-CT/TU", "02-NQ/TU", "01-KL/TU", "01-QĐi/TU", "01-CV/TU"]
    assert issued(svc, "ub", "QyĐ") == "01/QyĐ-UBND"  # the State register: one for all types
    assert issued(svc, "ub", "CT") == "02/CT-UBND"


def test_party_types_are_the_partys(svc: Services) -> None:
    cv = svc.identity.actor_by_username("ub.cv")
    assert cv is not None
    with pytest.raises(Invalid, match="Thông tri"):
        svc.documents.draft(cv, DraftSpec("TT", "Về việc"), ORIGIN)


def test_one_sequence_per_term_where_the_rules_say_so(tmp_path: Path) -> None:
    svc = committee(tmp_path, DOCFLOW_PARTY_NUMBERS_PER_TYPE="false")
    try:
        assert [issued(svc, "tu", t) for t in ("NQ", "CT")] == ["01-NQ/TU", "02-CT/TU"]
    finally:
        svc.close()


def test_registers_and_symbols() -> None:
    assert number_register("party", "NQ") == "outgoing:NQ"
    assert number_register("party", "NQ", party_per_type=False) == "outgoing"
    assert number_register("state", "NQ") == "outgoing"
    assert format_symbol(3, "QyĐ", "TU", family="party") == "03-QĐi/TU"
