"""`docflow demo`: a province with its communes, and one directive's whole round trip."""

from __future__ import annotations

import csv
import io
import os
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from docflow.bootstrap import Services
from docflow.domain.audit import Origin
from docflow.domain.documents import DraftSpec, RevisionKind, Urgency
from docflow.domain.org import Level
from docflow.domain.routing import DispatchStatus, DispatchTarget
from docflow.domain.signatures import Authority, SignatureKind
from docflow.services.identity import generate_password
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.keys import PadesKey, signing_options
from docflow.signing.pki import PASSPHRASE, init_local_pki, open_local_pki
from docflow.signing.seals import SealKeyring
from docflow.signing.signers import load_pkcs12
from storage.db import migrate

ORIGIN = Origin(via="cli")
PROVINCE = "T48"
LOGIN_COMMUNES = 3
PROVINCE_NAME = "Hội Liên hiệp Phụ nữ tỉnh Quảng Nam (demo)"
COMMUNE_NAMES = ("An Bình", "Hòa Thuận", "Phước Lộc", "Tân Phú", "Đại Hiệp", "Điện Quang",
                 "Quế Sơn", "Thăng Bình", "Tam Kỳ", "Núi Thành")

Say = Callable[[str], None]


@dataclass
class DemoResult:
    symbol: str
    document_id: str
    recipients: int
    counts: dict[str, int]
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    """(username, password, what they are) for the accounts worth trying first."""
    logins_file: Path | None = None
    seconds: float = 0.0
    issued_pdf: Path | None = None


def directive_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page A4 PDF with the directive's text (Latin-1 Helvetica: diacritics dropped)."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                             NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Times-Roman")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
        {NameObject("/F1"): writer._add_object(font)})})
    ops = ["BT", "/F1 14 Tf", "72 770 Td", f"({_pdf_text(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        ops += ["0 -18 Td", f"({_pdf_text(line)}) Tj"]
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf_text(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = plain.encode("latin-1", "replace").decode("latin-1")
    return plain.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def reset(services: Services) -> None:
    """Drop every table and migrate again; blobs nobody points to are swept."""
    migrate.downgrade_all(services.engine)
    migrate.upgrade(services.engine)
    services.documents.sweep_orphan_blobs(grace=timedelta(0))


def run_demo(services: Services, communes: int = 100, say: Say = print) -> DemoResult:
    """Create (or refresh) the demo province and run one directive through the round trip."""
    started = time.monotonic()
    units = [UnitRow("demo", PROVINCE, PROVINCE_NAME, "HPN", "province", "")]
    users = [UserRow("demo", "tinh.chuyenvien", "Nguyễn Thị Lan", PROVINCE, "officer"),
             UserRow("demo", "tinh.lanhdao", "Trần Thị Hoa", PROVINCE, "leader"),
             UserRow("demo", "tinh.vanthu", "Lê Thị Mai", PROVINCE, "clerk"),
             UserRow("demo", "tinh.kiemtra", "Phạm Văn Nam", PROVINCE, "auditor")]
    for i in range(1, communes + 1):
        code = f"{PROVINCE}.X{i:03d}"
        name = f"Hội LHPN xã {COMMUNE_NAMES[i % len(COMMUNE_NAMES)]} {i}"
        units.append(UnitRow("demo", code, name, "HPNX", "commune", PROVINCE))
        users.append(UserRow("demo", f"xa{i:03d}.vanthu", f"Văn thư xã {i}", code, "clerk"))
        users.append(UserRow("demo", f"xa{i:03d}.lanhdao", f"Chủ tịch Hội xã {i}", code,
                             "leader"))
    levels = [Level("province", "Tỉnh", 1), Level("commune", "Xã, phường", 2)]
    report = services.org.import_org(OrgImport(levels=levels, units=units, users=users), ORIGIN)
    say(f"org: {len(units)} units ({report.units_created} new), {len(users)} accounts "
        f"({report.users_created} new)")

    # argon2 is slow on purpose, so only the accounts people try first get a password here;
    # the rest get one from `docflow user passwd` when someone needs it.
    first = {f"{PROVINCE}.X{i:03d}" for i in range(1, min(communes, LOGIN_COMMUNES) + 1)}
    passwords = {u.username: generate_password() for u in users
                 if u.unit_code == PROVINCE or u.unit_code in first}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda item: services.identity.set_password(item[0], item[1], ORIGIN),
                      passwords.items()))
    logins_file = services.settings.data_dir / "demo-logins.csv"
    fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "password", "unit_code", "role"])
        for u in users:
            w.writerow([u.username, passwords.get(u.username, "(docflow user passwd)"),
                        u.unit_code, u.role])

    identity, docs = services.identity, services.documents
    officer = identity.login("tinh.chuyenvien", passwords["tinh.chuyenvien"], ORIGIN)
    leader = identity.login("tinh.lanhdao", passwords["tinh.lanhdao"], ORIGIN)
    clerk = identity.login("tinh.vanthu", passwords["tinh.vanthu"], ORIGIN)
    abstract = "Về việc triển khai Cuộc vận động xây dựng gia đình 5 không 3 sạch năm 2027"
    doc = docs.draft(officer, DraftSpec(doc_type="CT", abstract=abstract,
                                        urgency=Urgency.URGENT), ORIGIN)
    pdf = directive_pdf("CHI THI", [abstract, "Cac cap Hoi trien khai thuc hien nghiem tuc.",
                                    "Bao cao ket qua truoc ngay 31/12/2027."])
    docs.attach(officer, doc.id, RevisionKind.MAIN, "chi-thi.pdf", io.BytesIO(pdf), ORIGIN)
    docs.submit(officer, doc.id, ORIGIN)
    docs.comment(leader, doc.id, "Bổ sung thời hạn báo cáo", ORIGIN)
    docs.pass_review(leader, doc.id, ORIGIN)
    docs.approve(leader, doc.id, ORIGIN)
    leader_key, seals = _keys(services, say)
    services.signatures.sign(leader, doc.id, SignatureKind.LEADER, leader_key, ORIGIN,
                             position="CHỦ TỊCH", authority=Authority.ON_BEHALF)
    issued = docs.number(clerk, doc.id, ORIGIN)
    with seals.open(PROVINCE) as seal_key:
        services.signatures.sign(clerk, doc.id, SignatureKind.SEAL, seal_key, ORIGIN)
    seals.close()
    say(f"signed, numbered and sealed {issued.symbol}: {abstract}")
    issued_pdf = services.settings.data_dir / "demo-issued.pdf"
    signed = docs.view(clerk, doc.id, ORIGIN).main_revision()
    assert signed is not None
    with services.blobs.open(signed.sha256) as src:
        issued_pdf.write_bytes(src.read())
    dispatch = docs.dispatch(clerk, doc.id, DispatchTarget(level="commune", under=PROVINCE),
                             ORIGIN)
    _wait_for_dispatch(services, dispatch.id)
    counts, rows = services.queries.recipients(clerk, doc.id)
    say(f"dispatched to {sum(counts.values())} communes")

    for n, row in enumerate(rows, start=1):
        username = f"xa{row.unit_code.rsplit('X', 1)[-1]}.vanthu"
        commune_clerk = identity.actor_by_username(username)
        assert commune_clerk is not None
        if n % 25 == 0:
            docs.return_receipt(commune_clerk, row.receipt_id,
                                "Văn bản gửi nhầm đơn vị, đề nghị kiểm tra lại", ORIGIN)
            continue
        docs.register_receipt(commune_clerk, row.receipt_id, ORIGIN)
        if n % 3 != 0:
            docs.complete_receipt(commune_clerk, row.receipt_id, ORIGIN)
    counts, _ = services.queries.recipients(clerk, doc.id)
    logins = [(u, passwords[u], what) for u, what in (
        ("tinh.chuyenvien", "officer, province"), ("tinh.lanhdao", "leader, province"),
        ("tinh.vanthu", "clerk, province"), ("tinh.kiemtra", "auditor, province"),
        ("xa001.vanthu", "clerk, commune 1"), ("xa001.lanhdao", "leader, commune 1"))]
    return DemoResult(symbol=issued.symbol or "", document_id=doc.id,
                      recipients=sum(counts.values()), counts=counts, logins=logins,
                      logins_file=logins_file, seconds=time.monotonic() - started,
                      issued_pdf=issued_pdf)


def _keys(services: Services, say: Say) -> tuple[PadesKey, SealKeyring]:
    """The demo signs with the internal PKI, made on first use (`docflow pki init`). The
    province's seal is written down in ``pki/seals.toml``, so the server holds it from the
    next start (the clerk seals in the browser or through the API); the demo seals with it
    the same way."""
    folder = services.settings.data_dir / "pki"
    local = open_local_pki(folder)
    if local is None:
        local = init_local_pki(folder, services.settings.trust_anchors[0], force=False,
                               now=services.clock.now(), organisation=PROVINCE_NAME,
                               leader_name="Trần Thị Hoa")
        say(f"internal PKI created in {folder} (trials only; not a public trust service)")
    settings = services.settings
    options = signing_options(settings.pades_level, settings.tsa_url, settings.trust_anchors)
    seals_file = folder / "seals.toml"
    if not seals_file.exists():
        (folder / "seal.png").write_bytes(demo_seal_png())
        seals_file.write_text(
            "# The organisation seals this server holds (docflow/signing/seals.py).\n"
            f"[units.{PROVINCE}]\n"
            f'pkcs12 = "{local.files.seal_p12.name}"\n'
            f'passphrase_file = "{PASSPHRASE}"\n'
            'image = "seal.png"\n', encoding="utf-8")
    return (PadesKey(load_pkcs12(local.files.leader_p12, local.passphrase), options=options,
                     signature_image=demo_signature_png()),
            SealKeyring.load(seals_file, options))


def _wait_for_dispatch(services: Services, dispatch_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = services.documents.dispatch_state(dispatch_id)
        if found is not None and found.status is DispatchStatus.DONE:
            return
        time.sleep(0.1)
    raise TimeoutError("the dispatch job did not finish within a minute: is a worker running "
                       "(docflow worker) for this Redis?")
