"""Signature and seal images (what a Decree-30 signature block shows), and administration
within reach: an administrator manages their unit's subtree and nothing else, in the pages."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Forbidden, Invalid
from docflow.domain.org import Actor, Role
from docflow.domain.signatures import SignatureKind
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.signing.appearance import PngMarks
from tests.conftest import ORIGIN, PASSWORD, Org, approve, log_in
from tests.keys import test_keys
from tests.pdfs import good_pdf

GREEN = (0, 200, 0)
MAGENTA = (220, 0, 220)


def png(color: tuple[int, int, int], *, alpha: bool = True, size: int = 120,
        fmt: str = "PNG") -> bytes:
    """A filled square on a transparent margin (or an opaque one)."""
    img = Image.new("RGBA" if alpha else "RGB", (size, size),
                    (255, 255, 255, 0) if alpha else (255, 255, 255))
    img.paste(color + ((255,) if alpha else ()), (10, 10, size - 10, size - 10))
    out = io.BytesIO()
    img.convert("RGB").save(out, format=fmt) if fmt != "PNG" else img.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(("data", "says"), [
    (png(GREEN, alpha=False), "transparent"),
    (png(GREEN, fmt="JPEG"), "PNG"),
    (png(GREEN, size=8), "pixels"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "cannot be read"),
    (b"x" * (3 << 20), "larger"),
])
def test_only_a_transparent_png_of_sensible_size_is_taken(data: bytes, says: str) -> None:
    with pytest.raises(Invalid, match=says):
        PngMarks().check(data)
    PngMarks().check(png(GREEN))


def approved(services: Services, org: Org) -> str:
    doc = services.documents.draft(org.officer, DraftSpec("QĐ", "Về việc khen thưởng"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "qd.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    approve(services, org.officer, org.leader, doc.id)
    return doc.id


def pixels_of(services: Services, org: Org, doc_id: str, color: tuple[int, int, int],
              tmp_path: Path) -> int:
    """How many pixels of about `color` the newest main file shows, rendered by poppler."""
    revision = services.documents.view(org.leader, doc_id, ORIGIN).main_revision()
    assert revision is not None
    with services.blobs.open(revision.sha256) as f:
        (tmp_path / "signed.pdf").write_bytes(f.read())
    subprocess.run([shutil.which("pdftoppm") or "pdftoppm", "-r", "50", "-png", "-singlefile",
                    str(tmp_path / "signed.pdf"), str(tmp_path / "page")], check=True)
    page = Image.open(tmp_path / "page.png").convert("RGB")
    return sum(n for n, seen in page.getcolors(1 << 24) or []
               if all(abs(a - b) < 40 for a, b in zip(seen, color, strict=True)))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_the_leaders_signature_and_the_seal_show_the_images_uploaded(
        services: Services, org: Org, tmp_path: Path) -> None:
    keys = test_keys()
    before = approved(services, org)
    services.signatures.sign(org.leader, before, SignatureKind.LEADER, keys.leader, ORIGIN,
                             position="CHỦ TỊCH")
    assert pixels_of(services, org, before, GREEN, tmp_path) == 0

    services.marks.set_signature_image(org.leader, png(GREEN), ORIGIN)
    admin = _admin(services)
    services.marks.set_seal_image(admin, "P01", png(MAGENTA), ORIGIN)
    leader = services.identity.actor_by_username("leader")  # as the next request loads it
    assert leader is not None
    after = approved(services, org)
    services.signatures.sign(leader, after, SignatureKind.LEADER, keys.leader, ORIGIN,
                             position="CHỦ TỊCH")
    assert pixels_of(services, org, after, GREEN, tmp_path) > 50
    services.documents.number(org.clerk, after, ORIGIN)
    services.signatures.sign(org.clerk, after, SignatureKind.SEAL, keys.seal, ORIGIN)
    assert pixels_of(services, org, after, MAGENTA, tmp_path) > 50
    assert services.marks.signature_image(leader) == png(GREEN)


def _admin(services: Services, unit: str = "P01", username: str = "admin") -> Actor:
    services.identity.add_user(username, "Quản trị", PASSWORD, [(unit, Role.ADMIN)], ORIGIN)
    found = services.identity.actor_by_username(username)
    assert found is not None
    return found


def test_a_seal_image_is_set_by_an_administrator_of_the_unit_or_above(
        services: Services, org: Org) -> None:
    with pytest.raises(Forbidden):
        services.marks.set_seal_image(org.clerk, "P01", png(MAGENTA), ORIGIN)
    commune_admin = _admin(services, "P01.X1", "xadmin")
    with pytest.raises(Forbidden):
        services.marks.set_seal_image(commune_admin, "P01", png(MAGENTA), ORIGIN)
    services.marks.set_seal_image(_admin(services), "P01.X1", png(MAGENTA), ORIGIN)
    assert services.marks.seal_image(commune_admin, "P01.X1") == png(MAGENTA)


def test_an_administrator_manages_people_within_their_subtree_only(
        services: Services, org: Org) -> None:
    admin = _admin(services)
    password = services.admin.add_person(admin, "lan", "Nguyễn Thị Lan", "P01.X1",
                                         Role.OFFICER, ORIGIN)
    assert services.identity.login("lan", password, ORIGIN).roles_in("P01.X1") == {"officer"}
    with pytest.raises(Forbidden):
        services.admin.add_person(admin, "bon", "Bốn", "P02", Role.OFFICER, ORIGIN)
    services.admin.grant(admin, "lan", "P01.X2", Role.CLERK, ORIGIN)
    with pytest.raises(Forbidden):
        services.admin.grant(admin, "lan", "P02.X1", Role.CLERK, ORIGIN)
    with pytest.raises(Forbidden):
        services.admin.reset_password(admin, "p2auditor", ORIGIN)  # a P02 person
    fresh = services.admin.reset_password(admin, "lan", ORIGIN)
    assert services.identity.login("lan", fresh, ORIGIN)
    assert {m.unit_code for m in services.admin.members(admin)} >= {"P01", "P01.X1", "P01.X2"}
    assert "P02" not in {m.unit_code for m in services.admin.members(admin)}
    assert services.admin.units(admin)[0].code == "P01"  # by path: the root of the subtree
    with pytest.raises(Forbidden):
        services.admin.units(org.clerk)


def test_an_import_lands_inside_the_administered_subtree_or_not_at_all(
        services: Services, org: Org) -> None:
    admin = _admin(services)
    inside = OrgImport(units=[UnitRow("f:2", "P01.X4", "Hội LHPN xã Bốn", "HPNX4", "commune",
                                      "P01"),
                              UnitRow("f:3", "P01.X4.C1", "Chi hội 1", "CH1", "branch",
                                      "P01.X4")],
                       users=[UserRow("f:4", "chihoi", "Chi hội trưởng", "P01.X4.C1",
                                      "leader")])
    report = services.admin.import_org(admin, inside, ORIGIN)
    assert report.units_created == 2 and report.users_created == 1
    outside = OrgImport(units=[UnitRow("g:2", "P02.X9", "Xã Chín", "X9", "commune", "P02"),
                               UnitRow("g:3", "P01.X5", "Xã Năm", "X5", "commune", "P01")],
                        users=[UserRow("g:4", "nam", "Năm", "P02", "officer")])
    with pytest.raises(Forbidden) as refused:
        services.admin.import_org(admin, outside, ORIGIN)
    assert refused.value.details["errors"] == [
        "g:2: unit 'P02.X9' is outside the units you administer",
        "g:4: unit 'P02' is outside the units you administer"]
    assert "P01.X5" not in {u.code for u in services.admin.units(admin)}


# --- the pages ----------------------------------------------------------------------------------




def test_the_pages_set_images_people_imports_and_delegations(
        client: FlaskClient, services: Services, org: Org) -> None:
    _admin(services)
    csrf = log_in(client, "admin")
    assert "Quản trị" in client.get("/").text  # in the menu
    page = client.get("/admin").text
    assert "Hội LHPN xã Một" in page and "Hội LHPN tỉnh Hai" not in page
    assert "Không có CA tin cậy nào" in page  # none configured in this data folder
    from datetime import UTC, datetime

    from docflow.signing.pki import init_pki

    files = init_pki(services.settings.data_dir / "pki", passphrase=b"x", now=datetime.now(UTC))
    (services.settings.data_dir / "trust").mkdir(exist_ok=True)
    (services.settings.data_dir / "trust" / "ca.pem").write_bytes(files.ca_cert.read_bytes())
    assert "docflow demo organisation" in client.get("/admin").text
    (services.settings.data_dir / "trust" / "broken.pem").write_text("not a certificate")
    broken = client.get("/admin")
    assert broken.status_code == 200 and "broken.pem: not a certificate" in broken.text
    (services.settings.data_dir / "trust" / "broken.pem").unlink()
    done = client.post("/admin/person", data={
        "csrf_token": csrf, "username": "hoa", "full_name": "Trần Hoa", "unit": "P01.X2",
        "role": "leader"}, follow_redirects=True).text
    password = re.search(r"mật khẩu ban đầu để bàn giao: (\w{12})", done)
    assert password is not None
    assert services.identity.login("hoa", password.group(1), ORIGIN)
    refused = client.post("/admin/grant", data={"csrf_token": csrf, "username": "hoa",
                                                "unit": "P02", "role": "clerk"},
                          follow_redirects=True).text
    assert 'role="alert"' in refused and "P02" in refused
    units = "code,name,abbreviation,level,parent_code\nP01.X7,Hội LHPN xã Bảy,X7,commune,P01\n"
    imported = client.post("/admin/import", data={
        "csrf_token": csrf, "file": (io.BytesIO(units.encode()), "units.csv")},
        content_type="multipart/form-data", follow_redirects=True).text
    assert "1 đơn vị mới" in imported and "P01.X7" in client.get("/admin").text
    sealed = client.post("/admin/seal", data={
        "csrf_token": csrf, "unit": "P01", "image": (io.BytesIO(png(MAGENTA)), "dau.png")},
        content_type="multipart/form-data", follow_redirects=True).text
    assert "Đã lưu ảnh con dấu" in sealed and 'alt="Ảnh con dấu của P01"' in sealed

    leader = client.application.test_client()
    csrf = log_in(leader, "leader")
    refused = leader.get("/admin")
    assert refused.status_code == 403  # not an administrator, said in the page's language
    assert "chức năng quản trị dành cho quản trị viên đơn vị" in refused.text
    assert "không có đơn vị &#39;P09&#39;" in client.post("/admin/seal", data={
        "csrf_token": log_in(client, "admin"), "unit": "P09",
        "image": (io.BytesIO(png(MAGENTA)), "dau.png")}, content_type="multipart/form-data",
        follow_redirects=True).text  # a templated refusal, filled and translated
    opaque = leader.post("/profile/signature-image", data={
        "csrf_token": csrf, "image": (io.BytesIO(png(GREEN, alpha=False)), "ky.png")},
        content_type="multipart/form-data", follow_redirects=True).text
    assert "nền trong suốt" in opaque or "transparent" in opaque
    saved = leader.post("/profile/signature-image", data={
        "csrf_token": csrf, "image": (io.BytesIO(png(GREEN)), "ky.png")},
        content_type="multipart/form-data", follow_redirects=True).text
    assert 'alt="Ảnh chữ ký của tôi"' in saved
    too_long = leader.post("/delegations", data={
        "csrf_token": csrf, "unit": "P01", "grantee": "officer", "authority": "TL.",
        "from": "2026-01-01", "to": "2099-12-31", "reason": "Giấy ủy quyền số 6"},
        follow_redirects=True).text
    assert "at most a term" in too_long  # each fault said
    granted = leader.post("/delegations", data={
        "csrf_token": csrf, "unit": "P01", "grantee": "officer", "authority": "TL.",
        "from": "2026-01-01", "to": "2030-12-31", "reason": "Giấy ủy quyền số 7",
        "types": ["CV"]}, follow_redirects=True).text
    assert "Đã ghi nhận giao quyền" in granted and "Giấy ủy quyền số 7" in granted
    delegation = services.delegations.for_unit(org.leader, "P01")[0]
    revoked = leader.post(f"/delegations/{delegation.id}/revoke", data={"csrf_token": csrf},
                          follow_redirects=True).text
    assert "đã thu hồi" in revoked
    officer = client.application.test_client()
    log_in(officer, "officer")
    assert "do lãnh đạo đơn vị thực hiện" in officer.get("/delegations").text
