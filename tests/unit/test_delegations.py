"""Signing authority from records: KT., Q., TL. and TUQ. need a delegation from a leader of
the unit, in scope and in time; TL./TUQ. let a chief of office sign; an authorisation is never
passed on; grants and revocations are audited, and the signature's trail names the record."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Forbidden, Invalid
from docflow.domain.signatures import Authority, SignatureKind
from docflow.services.org import OrgImport, UserRow
from docflow.signing.keys import PadesKey
from docflow.signing.pki import init_pki
from docflow.signing.signers import load_pkcs12
from docflow.web import create_app
from storage.db import tables as t
from tests.conftest import ORIGIN, PASSWORD, Org, approve
from tests.pdfs import good_pdf

# The service judges a delegation by the civil day in Vietnam, which from 17:00 UTC is
# already tomorrow.
TODAY = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> PadesKey:
    files = init_pki(tmp_path_factory.mktemp("pki"), passphrase=b"x", now=datetime.now(UTC))
    return PadesKey(load_pkcs12(files.leader_p12, b"x"))


@pytest.fixture
def people(services: Services, org: Org) -> dict[str, object]:
    """P01 gets a deputy (a leader too) and a chief of office (an officer)."""
    services.org.import_org(OrgImport(users=[
        UserRow("t", "deputy", "Phó Chủ tịch", "P01", "leader"),
        UserRow("t", "chief", "Chánh Văn phòng", "P01", "officer")]), ORIGIN)
    for name in ("deputy", "chief"):
        services.identity.set_password(name, PASSWORD, ORIGIN)
    return {n: services.identity.actor_by_username(n) for n in ("deputy", "chief")}


def approved(services: Services, org: Org, doc_type: str = "QĐ") -> str:
    doc = services.documents.draft(org.officer, DraftSpec(doc_type, "Về việc"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    approve(services, org.officer, org.leader, doc.id)
    return doc.id


def sign(services: Services, who: object, doc_id: str, key: PadesKey,
         authority: Authority | None) -> object:
    return services.signatures.sign(who, doc_id, SignatureKind.LEADER, key, ORIGIN,  # type: ignore[arg-type]
                                    position="CHỦ TỊCH", authority=authority)


def test_a_deputy_signs_kt_only_with_a_record_in_scope_and_time(
        services: Services, org: Org, people: dict[str, object], key: PadesKey) -> None:
    d = services.delegations
    doc_id = approved(services, org)
    with pytest.raises(Forbidden, match="needs a delegation"):
        sign(services, people["deputy"], doc_id, key, Authority.DEPUTY)
    later = d.grant(org.leader, "P01", "deputy", Authority.DEPUTY, TODAY + timedelta(days=1),
                    TODAY + timedelta(days=30), "Quyết định phân công số 12", ORIGIN)
    only_ct = d.grant(org.leader, "P01", "deputy", Authority.DEPUTY, TODAY, TODAY,
                      "Phân công ký chỉ thị", ORIGIN, doc_types=["CT"])
    with pytest.raises(Forbidden):  # one starts tomorrow, the other covers only CT
        sign(services, people["deputy"], doc_id, key, Authority.DEPUTY)
    grant = d.grant(org.leader, "P01", "deputy", Authority.DEPUTY, TODAY - timedelta(days=1),
                    TODAY + timedelta(days=365), "Quyết định phân công số 13", ORIGIN)
    record = sign(services, people["deputy"], doc_id, key, Authority.DEPUTY)
    assert record.authority is Authority.DEPUTY  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        details = conn.execute(select(t.audit_events.c.details).where(
            t.audit_events.c.action == "document.sign",
            t.audit_events.c.object_id == doc_id)).scalar_one()
    assert details["delegation"] == grant.id
    # Revoked, it no longer counts.
    d.revoke(org.leader, grant.id, ORIGIN)
    with pytest.raises(Forbidden):
        sign(services, people["deputy"], approved(services, org), key, Authority.DEPUTY)
    assert {x.id for x in d.for_unit(org.leader, "P01")} == {later.id, only_ct.id, grant.id}


def test_a_chief_of_office_signs_tl_or_tuq_but_not_in_their_own_right(
        services: Services, org: Org, people: dict[str, object], key: PadesKey) -> None:
    d = services.delegations
    doc_id = approved(services, org)
    with pytest.raises(Forbidden):
        sign(services, people["chief"], doc_id, key, None)
    d.grant(org.leader, "P01", "chief", Authority.AUTHORISED, TODAY, TODAY + timedelta(days=10),
            "Giấy ủy quyền số 3", ORIGIN)
    with pytest.raises(Forbidden):  # the record is for TUQ., not Q.
        sign(services, people["chief"], doc_id, key, Authority.ACTING)
    assert sign(services, people["chief"], doc_id, key,
                Authority.AUTHORISED).authority is Authority.AUTHORISED  # type: ignore[attr-defined]


def test_grants_are_checked(services: Services, org: Org, people: dict[str, object]) -> None:
    d = services.delegations
    with pytest.raises(Invalid) as bad:  # never passed on: the chief is no leader
        d.grant(people["chief"], "P01", "officer", Authority.AUTHORISED,  # type: ignore[arg-type]
                TODAY, TODAY - timedelta(days=1), " ", ORIGIN)
    assert bad.value.errors == [
        "only a leader of the unit grants signing authority (an authorisation is never "
        "passed on)", "the grant ends before it starts",
        "give the reason or the decision it rests on"]

    def refused(*args: object, **kwargs: object) -> str:
        with pytest.raises(Invalid) as got:
            d.grant(org.leader, "P01", *args, ORIGIN, **kwargs)  # type: ignore[arg-type]
        return f"{got.value.message}: {'; '.join(map(str, got.value.errors or []))}"

    assert "needs no record" in refused("deputy", Authority.ON_BEHALF, TODAY, TODAY, "x")
    assert "not a member" in refused("x1clerk", Authority.AUTHORISED, TODAY, TODAY, "x")
    assert "at most a term" in refused("deputy", Authority.DEPUTY, TODAY,
                                       date(TODAY.year + 6, 1, 1), "x")
    assert "XX" in refused("deputy", Authority.DEPUTY, TODAY, TODAY, "x", doc_types=["XX"])


def test_the_api(services: Services, org: Org, people: dict[str, object]) -> None:
    client = create_app(services).test_client()
    login = client.post("/api/v1/session", json={"username": "leader", "password": PASSWORD})
    headers = {"X-CSRF-Token": login.json["csrf_token"]}  # type: ignore[index]
    made = client.post("/api/v1/delegations", headers=headers, json={
        "unit_code": "P01", "grantee": "deputy", "authority": "Q.",
        "valid_from": TODAY.isoformat(), "valid_to": (TODAY + timedelta(days=14)).isoformat(),
        "reason": "Chủ tịch nghỉ phép"})
    assert made.status_code == 201, made.json
    listed = client.get("/api/v1/delegations?unit=P01").json
    assert [x["authority"] for x in listed["items"]] == ["Q."]  # type: ignore[index]
    gone = client.post(f"/api/v1/delegations/{made.json['id']}/revoke",  # type: ignore[index]
                       headers=headers)
    assert gone.status_code == 200 and gone.json["revoked_at"]  # type: ignore[index]
