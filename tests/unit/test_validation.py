"""Validation of signed PDFs: fixtures signed here with a throwaway CA, then attacked.

Every fixture is built in this file: an RSA-2048 CA and signer made with `cryptography`, a
PDF with a text field assembled byte by byte, PAdES signatures made with pyHanko's
SimpleSigner, and the attacks applied to the signed bytes.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docflow.signing.validation import (
    ValidationLimits,
    ValidationReport,
    Verdict,
    validate_pdf,
    validate_pdf_in_process,
)
from tests.pdfs import assemble, deflate_bomb, many_fields, page_tree_loop, truncated_pdf

FIELD_REF = 4  # object number of the text field in `form_pdf`


# ------------------------------------------------------------------------------------------
# Fixtures: a throwaway PKI, a PDF with a form field, signing


@dataclass(frozen=True)
class Pki:
    ca: x509.Certificate
    signer_cert: x509.Certificate
    signer_key: rsa.RSAPrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "docflow tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_pki() -> Pki:
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(_name("Test CA (throwaway)"))
          .issuer_name(_name("Test CA (throwaway)")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=False, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
              encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("Nguyễn Văn A"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Pki(ca=ca, signer_cert=cert, signer_key=key)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return _make_pki()


@pytest.fixture(scope="module")
def other_pki() -> Pki:
    return _make_pki()


def form_pdf(pages: int = 20) -> bytes:
    """`pages` pages of text; page 1 carries a filled text field (object FIELD_REF)."""
    first_page = 6
    page_refs = " ".join(f"{first_page + 2 * i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] "
        b"/DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 3 0 R >> >> >> >>",
        b"<< /Type /Pages /Kids [" + page_refs.encode() + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Recipient) /V (Unit A) /F 4 "
        b"/Rect [72 700 300 720] /P %d 0 R /DA (/Helv 12 Tf 0 g) /AP << /N 5 0 R >> >>"
        % first_page,
        _appearance(b"Unit A"),
    ]
    for i in range(pages):
        text = b"BT /Helv 12 Tf 72 760 Td (Directive page %d of %d: keep the peace.) Tj ET" % (
            i + 1, pages)
        annots = b" /Annots [4 0 R]" if i == 0 else b""
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
                       b"<< /Font << /Helv 3 0 R >> >> /Contents %d 0 R%s >>"
                       % (first_page + 2 * i + 1, annots))
        objects.append(b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream")
    return assemble(objects)


def _appearance(text: bytes) -> bytes:
    body = b"/Tx BMC BT /Helv 12 Tf 2 5 Td (" + text + b") Tj ET EMC"
    return (b"<< /Type /XObject /Subtype /Form /BBox [0 0 228 20] /Resources << /Font "
            b"<< /Helv 3 0 R >> >> /Length %d >>\nstream\n" % len(body) + body + b"\nendstream")


def sign(data: bytes, pki: Pki, *, field_name: str = "Signature1", md: str = "sha256",
         reason: str | None = None) -> bytes:
    cert = asn1_x509.Certificate.load(pki.signer_cert.public_bytes(Encoding.DER))
    ca = asn1_x509.Certificate.load(pki.ca.public_bytes(Encoding.DER))
    key = asn1_keys.PrivateKeyInfo.load(pki.signer_key.private_bytes(
        Encoding.DER, PrivateFormat.PKCS8, NoEncryption()))
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs([ca]))
    meta = signers.PdfSignatureMetadata(field_name=field_name, md_algorithm=md, reason=reason,
                                        subfilter=fields.SigSeedSubFilter.PADES)
    out = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer,
                     output=out)
    return out.getvalue()


def update(data: bytes, change: object) -> bytes:
    """Append one incremental update made by `change(writer)`."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    change(writer)  # type: ignore[operator]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def signed(pki: Pki) -> bytes:
    return sign(form_pdf(), pki, reason="KT. CHỦ TỊCH")


def check(data: bytes, pki: Pki | None, **kwargs: object) -> ValidationReport:
    roots = [pki.ca] if pki is not None else []
    return validate_pdf_in_process(data, trust_roots=roots, **kwargs)  # type: ignore[arg-type]


def codes(report: ValidationReport) -> set[str]:
    return {r.code for r in report.reasons}


# ------------------------------------------------------------------------------------------
# Good signatures


def test_valid_and_trusted(pki: Pki, signed: bytes) -> None:
    report = check(signed, pki)
    assert report.verdict is Verdict.VALID, report.reasons
    assert report.exit_code == 0
    assert report.reasons == () and report.warnings == ()
    (sig,) = report.signatures
    assert (sig.field, sig.kind, sig.intact, sig.valid, sig.trusted) == (
        "Signature1", "signature", True, True, True)
    assert (sig.coverage, sig.modifications, sig.pades_level) == ("ENTIRE_FILE", "NONE", "B-B")
    assert sig.authority == "KT."
    assert sig.signer is not None and "Nguyễn Văn A" in sig.signer
    assert sig.signing_time is not None and sig.timestamp is None
    assert sig.revocation == "unknown"


def test_json_shape_and_round_trip(pki: Pki, signed: bytes) -> None:
    report = check(signed, pki)
    data = report.to_json()
    assert list(data) == ["verdict", "reasons", "warnings", "signatures"]
    assert list(data["signatures"][0]) == [
        "field", "kind", "signer", "authority", "signing_time", "intact", "valid", "trusted",
        "revocation", "timestamp", "coverage", "modifications", "pades_level", "verdict",
        "reasons"]
    assert data["verdict"] == "VALID"
    assert ValidationReport.from_json(data) == report


def test_isolated_child_gives_the_same_report(pki: Pki, signed: bytes) -> None:
    assert validate_pdf(signed, trust_roots=[pki.ca]) == check(signed, pki)


def test_untrusted_chain_is_indeterminate(pki: Pki, other_pki: Pki, signed: bytes) -> None:
    report = validate_pdf_in_process(signed, trust_roots=[])
    assert report.verdict is Verdict.INDETERMINATE
    assert report.exit_code == 3
    assert codes(report) == {"NO_CERTIFICATE_CHAIN_FOUND"}
    assert report.signatures[0].intact and not report.signatures[0].trusted
    # A different CA under the same name: the path is built, and fails on its signature.
    impostor = validate_pdf_in_process(signed, trust_roots=[other_pki.ca])
    assert impostor.verdict is Verdict.INDETERMINATE
    assert not impostor.signatures[0].trusted


def test_second_signature_keeps_the_first_valid_with_a_notice(pki: Pki, signed: bytes) -> None:
    twice = sign(signed, pki, field_name="Signature2", reason="TL. CHÁNH VĂN PHÒNG")
    report = check(twice, pki)
    assert report.verdict is Verdict.VALID, report.reasons
    first, second = report.signatures
    assert (first.field, first.coverage, first.modifications) == (
        "Signature1", "ENTIRE_REVISION", "FORM_FILLING")
    assert (second.field, second.coverage, second.authority) == (
        "Signature2", "ENTIRE_FILE", "TL.")
    assert [w.code for w in report.warnings] == ["FORM_FILLING"]


def test_form_filled_after_signing_is_valid_with_a_warning(pki: Pki, signed: bytes) -> None:
    def fill(w: IncrementalPdfFileWriter) -> None:
        ref = generic.IndirectObject(FIELD_REF, 0, w)
        field = ref.get_object()
        ap = w.add_object(generic.StreamObject(
            {"/Type": generic.NameObject("/XObject"), "/Subtype": generic.NameObject("/Form"),
             "/BBox": generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 228, 20)])},
            stream_data=b"/Tx BMC BT /Helv 12 Tf 2 5 Td (Unit B) Tj ET EMC"))
        field["/V"] = generic.TextStringObject("Unit B")
        field["/AP"] = generic.DictionaryObject({generic.NameObject("/N"): ap})
        w.mark_update(ref)

    report = check(update(signed, fill), pki)
    assert report.verdict is Verdict.VALID, report.reasons
    assert report.signatures[0].modifications == "FORM_FILLING"
    assert [w.code for w in report.warnings] == ["FORM_FILLING"]
    assert "Recipient" in report.warnings[0].message


# ------------------------------------------------------------------------------------------
# Tampering and forgery


def test_flipped_byte_in_signed_range_is_hash_failure(pki: Pki, signed: bytes) -> None:
    at = signed.index(b"keep the peace")
    tampered = signed[:at] + b"K" + signed[at + 1:]
    report = check(tampered, pki)
    assert report.verdict is Verdict.INVALID
    assert report.exit_code == 1
    assert "HASH_FAILURE" in codes(report)
    assert not report.signatures[0].intact


def test_incremental_update_changing_page_content_is_invalid(pki: Pki, signed: bytes) -> None:
    def rewrite(w: IncrementalPdfFileWriter) -> None:
        page_ref = w.root["/Pages"]["/Kids"].raw_get(0)
        page = page_ref.get_object()
        page["/Contents"] = w.add_object(generic.StreamObject(
            stream_data=b"BT /Helv 12 Tf 72 760 Td (Directive: start the war.) Tj ET"))
        w.mark_update(page_ref)

    report = check(update(signed, rewrite), pki)
    assert report.verdict is Verdict.INVALID
    assert report.signatures[0].modifications == "OTHER"
    assert "FORMAT_FAILURE" in codes(report)


def test_page_added_after_signing_is_invalid(pki: Pki, signed: bytes) -> None:
    def add_page(w: IncrementalPdfFileWriter) -> None:
        pages = w.root["/Pages"]
        new = w.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/Parent"): w.root.raw_get("/Pages"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)])}))
        pages["/Kids"].append(new)
        pages["/Count"] = generic.NumberObject(pages["/Count"] + 1)
        w.update_container(pages)

    report = check(update(signed, add_page), pki)
    assert report.verdict is Verdict.INVALID
    assert report.signatures[0].modifications == "OTHER"


def test_pages_swapped_after_signing_is_invalid(pki: Pki, signed: bytes) -> None:
    def swap(w: IncrementalPdfFileWriter) -> None:
        pages = w.root["/Pages"]
        kids = pages["/Kids"]
        kids[0], kids[1] = kids[1], kids[0]
        w.update_container(pages)

    report = check(update(signed, swap), pki)
    assert report.verdict is Verdict.INVALID


def test_appearance_replaced_without_value_change_is_invalid(pki: Pki, signed: bytes) -> None:
    """Shadow 'replace': the field keeps its value but is repainted to show other text."""
    def repaint(w: IncrementalPdfFileWriter) -> None:
        ref = generic.IndirectObject(FIELD_REF, 0, w)
        field = ref.get_object()
        ap = w.add_object(generic.StreamObject(
            {"/Type": generic.NameObject("/XObject"), "/Subtype": generic.NameObject("/Form"),
             "/BBox": generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 228, 20)])},
            stream_data=b"/Tx BMC BT /Helv 12 Tf 2 5 Td (Unit Z) Tj ET EMC"))
        field["/AP"] = generic.DictionaryObject({generic.NameObject("/N"): ap})
        w.mark_update(ref)

    report = check(update(signed, repaint), pki)
    assert report.verdict is Verdict.INVALID
    assert any("shadow" in r.message for r in report.reasons)


def _gap(data: bytes) -> tuple[re.Match[bytes], list[int]]:
    match = re.search(rb"/ByteRange\s*\[([\d\s]+)\]", data)
    assert match is not None
    return match, [int(v) for v in match.group(1).split()]


def test_zeroed_contents_is_invalid(pki: Pki, signed: bytes) -> None:
    _, (_, len1, start2, _) = _gap(signed)
    forged = signed[:len1 + 1] + b"0" * (start2 - len1 - 2) + signed[start2 - 1:]
    report = check(forged, pki)
    assert report.verdict is Verdict.INVALID
    assert codes(report) == {"FORMAT_FAILURE"}


def test_missing_byte_range_is_invalid(pki: Pki, signed: bytes) -> None:
    match, _ = _gap(signed)
    forged = signed[:match.start()] + b"/Foo" + b" " * (len(match.group(0)) - 4) + \
        signed[match.end():]
    report = check(forged, pki)
    assert report.verdict is Verdict.INVALID
    assert "FORMAT_FAILURE" in codes(report)


def test_byte_range_gap_holding_more_than_the_signature_is_invalid(pki: Pki,
                                                                   signed: bytes) -> None:
    match, (start1, len1, start2, len2) = _gap(signed)
    wider = f"{start1} {len1 - 12} {start2} {len2}".encode()
    inner = match.group(1)
    forged = signed[:match.start(1)] + wider.ljust(len(inner)) + signed[match.end(1):]
    report = check(forged, pki)
    assert report.verdict is Verdict.INVALID
    assert any("wrapping" in r.message for r in report.reasons)


def test_sha1_digest_is_crypto_constraints_failure(pki: Pki) -> None:
    report = check(sign(form_pdf(2), pki, md="sha1"), pki)
    assert report.verdict is not Verdict.VALID
    assert "CRYPTO_CONSTRAINTS_FAILURE" in codes(report)


# ------------------------------------------------------------------------------------------
# Not signed, not a PDF, hostile


def test_unsigned_pdf_is_no_signature() -> None:
    report = validate_pdf(form_pdf(1), trust_roots=[])
    assert report.verdict is Verdict.NO_SIGNATURE
    assert report.exit_code == 4
    assert report.signatures == ()


def test_garbage_is_invalid_format_failure() -> None:
    for data in (b"", b"not a pdf at all", b"%PDF-1.7\n" + bytes(range(256)) * 4):
        report = validate_pdf_in_process(data, trust_roots=[])
        assert report.verdict is Verdict.INVALID, data[:20]
        assert codes(report) == {"FORMAT_FAILURE"}


def test_too_big_is_indeterminate(pki: Pki, signed: bytes) -> None:
    report = validate_pdf(signed, trust_roots=[pki.ca],
                          limits=ValidationLimits(max_bytes=len(signed) - 1))
    assert report.verdict is Verdict.INDETERMINATE
    assert codes(report) == {"RESOURCE_LIMIT_EXCEEDED"}


def test_wall_clock_limit_is_indeterminate() -> None:
    # A file that takes ~1 s, ten times the limit: a warm validator checks a small signed
    # one within it.
    report = validate_pdf(many_fields(), trust_roots=[],
                          limits=ValidationLimits(timeout_seconds=0.1))
    assert report.verdict is Verdict.INDETERMINATE
    assert codes(report) == {"RESOURCE_LIMIT_EXCEEDED"}
    assert "wall clock" in report.reasons[0].message


@pytest.mark.parametrize("hostile", [deflate_bomb, page_tree_loop], ids=["bomb", "loop"])
def test_hostile_unsigned_files_finish_bounded(hostile: object) -> None:
    data = hostile()  # type: ignore[operator]
    started = time.monotonic()
    report = validate_pdf(data, trust_roots=[], limits=ValidationLimits(
        timeout_seconds=20, memory_bytes=768 << 20))
    assert time.monotonic() - started < 20
    assert report.verdict is not Verdict.VALID


def test_hostile_files_leave_nothing_behind_for_the_next_document(pki: Pki,
                                                                 signed: bytes) -> None:
    """A validator takes several documents: after each hostile one, in the same process or
    a fresh one, the next gets the report it gets alone."""
    alone = validate_pdf(signed, trust_roots=[pki.ca]).to_json()
    limits = ValidationLimits(timeout_seconds=20, memory_bytes=768 << 20)
    for hostile in (deflate_bomb(), page_tree_loop(), truncated_pdf(), many_fields(2000),
                    b"%PDF-1.7\n" + bytes(range(256)) * 4):
        assert validate_pdf(hostile, trust_roots=[pki.ca], limits=limits).verdict is not (
            Verdict.VALID)
        assert validate_pdf(signed, trust_roots=[pki.ca]).to_json() == alone


def test_signed_file_with_a_bomb_appended_is_not_valid(pki: Pki, signed: bytes) -> None:
    bomb = deflate_bomb(256)
    stream = bomb[bomb.index(b"stream\n") + 7:bomb.rindex(b"\nendstream")]

    def add_bomb(w: IncrementalPdfFileWriter) -> None:
        page_ref = w.root["/Pages"]["/Kids"].raw_get(0)
        page = page_ref.get_object()
        obj = generic.StreamObject({generic.NameObject("/Filter"):
                                    generic.NameObject("/FlateDecode")},
                                   encoded_data=stream)
        page["/Contents"] = w.add_object(obj)
        w.mark_update(page_ref)

    started = time.monotonic()
    report = validate_pdf(update(signed, add_bomb), trust_roots=[pki.ca],
                          limits=ValidationLimits(timeout_seconds=20, memory_bytes=768 << 20))
    assert time.monotonic() - started < 20
    assert report.verdict in (Verdict.INVALID, Verdict.INDETERMINATE)
