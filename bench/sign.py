"""Benchmark: sign and store Decree-30 signatures on PostgreSQL, per core.

End to end through `SignatureService.sign`: read the revision from the blob store, sign it
(PKCS#12 key from `init_pki`, B-B), spool and store the new revision's blob, and commit its row,
the signature record and the audit event. Baseline, in the same run: stock pyHanko, a
`SimpleSigner.load_pkcs12(...)` built once, then `signers.sign_pdf(...)` per document, in memory.
Also times in-process validation per signature.

    .venv/bin/python bench/sign.py            # 1-, 20-, 200-page and 10 MiB PDFs
    .venv/bin/python bench/sign.py --small    # fewer documents, the same shapes but 10 MiB

One process, so every rate is per core. The full run times three interleaved rounds of 40
documents per shape and kind (10 for 10 MiB) and prints the medians. It also prints the
20-page rate and the validation times scaled to the issue's reference machine (stock pyHanko
~80 ms a signature), for this VM's speed varies by a factor of two from hour to hour; the
targets are checked against the figures measured, not the scaled ones.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject
from support import SERVER, RecordingQueue, scratch_database, services_on

from docflow.bootstrap import Services
from docflow.demo import directive_pdf
from docflow.domain.audit import Origin
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.org import Actor, Level
from docflow.domain.signatures import SignatureKind
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.signing.appearance import demo_signature_png
from docflow.signing.keys import PadesKey
from docflow.signing.pki import init_pki
from docflow.signing.signers import load_pkcs12
from docflow.signing.validation import DOCUMENTS_PER_VALIDATOR, validate_pdf

ORIGIN = Origin(via="cli")
PASSPHRASE = b"bench-passphrase"
TARGET_20_PAGES = 100.0  # documents per second per core, end to end
TARGET_10_MIB = 20.0
TARGET_VALIDATION_MS = 15.0
REFERENCE_STOCK_MS = 80.0
"""Stock pyHanko's time per signature on the machine the issue set its targets on."""


def pdf_of(pages: int) -> bytes:
    base = PdfReader(io.BytesIO(directive_pdf("CHI THI", ["Trang noi dung."] * 20)))
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_page(base.pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_of_size(mib: int) -> bytes:
    """One page showing an incompressible image of about `mib` MiB (a scan, in effect)."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    side = int((mib << 20) ** 0.5)
    image = DecodedStreamObject()
    image.set_data(os.urandom(side * side))
    image.update({NameObject("/Type"): NameObject("/XObject"),
                  NameObject("/Subtype"): NameObject("/Image"),
                  NameObject("/Width"): NumberObject(side),
                  NameObject("/Height"): NumberObject(side),
                  NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                  NameObject("/BitsPerComponent"): NumberObject(8)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/XObject"): DictionaryObject(
        {NameObject("/Im0"): writer._add_object(image)})})
    contents = DecodedStreamObject()
    contents.set_data(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    page[NameObject("/Contents")] = writer._add_object(contents)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def seed(services: Services) -> tuple[Actor, Actor]:
    services.org.import_org(OrgImport(
        levels=[Level("province", "Tỉnh", 1)],
        units=[UnitRow("bench", "T48", "Hội LHPN tỉnh", "HPN", "province", "")],
        users=[UserRow("bench", "officer", "Nguyễn Thị Lan", "T48", "officer"),
               UserRow("bench", "leader", "Trần Thị Hoa", "T48", "leader")]), ORIGIN)
    officer = services.identity.actor_by_username("officer")
    leader = services.identity.actor_by_username("leader")
    assert officer is not None and leader is not None
    return officer, leader


def approved_documents(services: Services, officer: Actor, leader: Actor, pdf: bytes,
                       count: int, *, approve: bool = True) -> list[str]:
    """Documents with `pdf` as main file: approved (for the leader), or under review (for
    initials)."""
    ids = []
    for n in range(count):
        doc = services.documents.draft(officer, DraftSpec("CT", f"Văn bản thử {n}"), ORIGIN)
        services.documents.attach(officer, doc.id, RevisionKind.MAIN, "vb.pdf", io.BytesIO(pdf),
                                  ORIGIN)
        services.documents.submit(officer, doc.id, ORIGIN)  # outgoing v2: now under review
        if approve:
            services.documents.pass_review(leader, doc.id, ORIGIN)
            services.documents.approve(leader, doc.id, ORIGIN)
        ids.append(doc.id)
    return ids


def stock_rate(p12: Path, pdf: bytes, count: int) -> float:
    """Documents per second with stock pyHanko, in memory (the baseline of the issue)."""
    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=PASSPHRASE)
    assert signer is not None
    meta = signers.PdfSignatureMetadata(field_name="Signature1",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    started = time.perf_counter()
    for _ in range(count):
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return count / (time.perf_counter() - started)


def ours_rate(services: Services, leader: Actor, key: PadesKey, ids: Sequence[str],
              kind: SignatureKind) -> float:
    started = time.perf_counter()
    for doc_id in ids:
        services.signatures.sign(leader, doc_id, kind, key, ORIGIN, position="CHỦ TỊCH")
    return len(ids) / (time.perf_counter() - started)


def validation_ms(services: Services, leader: Actor, doc_id: str, ca: x509.Certificate,
                  *, isolate: bool, count: int) -> tuple[float, float]:
    """Mean and median ms per signature over `count` documents back to back: in this
    process, or isolated as intake, the API and `docflow verify` run it (a validator process
    with its limits set, a new one forked every `DOCUMENTS_PER_VALIDATOR` documents: the
    mean counts those)."""
    doc = services.documents.view(leader, doc_id, ORIGIN)
    revision = doc.main_revision()
    assert revision is not None
    with services.blobs.open(revision.sha256) as f:
        data = f.read()
    validate_pdf(data, trust_roots=[ca], isolate=isolate)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        report = validate_pdf(data, trust_roots=[ca], isolate=isolate)
        times.append((time.perf_counter() - started) * 1000)
        assert report.verdict.value == "VALID", report.to_json()
    signatures = max(1, len(report.signatures))
    return statistics.mean(times) / signatures, statistics.median(times) / signatures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sign-and-store benchmark")
    parser.add_argument("--small", action="store_true", help="a quick run for CI")
    parser.add_argument("--server", default=SERVER)
    args = parser.parse_args(argv)
    count = 5 if args.small else 40
    rounds = 1 if args.small else 3
    shapes = [("1 page", pdf_of(1)), ("20 pages", pdf_of(20)), ("200 pages", pdf_of(200))]
    if not args.small:
        shapes.append(("10 MiB", pdf_of_size(10)))
    failures = []
    with scratch_database(args.server) as database, \
            tempfile.TemporaryDirectory(prefix="docflow-bench-") as tmp:
        files = init_pki(Path(tmp) / "pki", passphrase=PASSPHRASE, now=datetime.now(UTC))
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        key = PadesKey(load_pkcs12(files.leader_p12, PASSPHRASE),
                       signature_image=demo_signature_png())
        services = services_on(f"{args.server}/{database}", Path(tmp) / "data",
                               RecordingQueue())
        try:
            officer, leader = seed(services)
            # Once per process, untimed, as the baseline's signer is loaded untimed: the
            # leader's block is rendered and the signer's CMS template made on first use.
            for approve in (True, False):
                ours_rate(services, leader, key,
                          approved_documents(services, officer, leader, pdf_of(1), 1,
                                             approve=approve),
                          SignatureKind.LEADER if approve else SignatureKind.INITIAL)
            print(f"{'PDF':<10} {'stock in memory':>16} {'ours, visible':>15} {'ratio':>6}"
                  f" {'ours, invisible':>16} {'ratio':>6}")
            for label, pdf in shapes:
                n = max(2, count // 4) if label == "10 MiB" else count
                # Interleaved rounds, medians: this machine's speed drifts by tens of per cent
                # within a minute, and a baseline timed minutes apart would skew the ratio.
                stock_rates, visible_rates, invisible_rates = [], [], []
                for _round in range(rounds):
                    stock_rates.append(stock_rate(files.leader_p12, pdf, n))
                    visible_rates.append(ours_rate(
                        services, leader, key,
                        approved_documents(services, officer, leader, pdf, n),
                        SignatureKind.LEADER))
                    invisible_rates.append(ours_rate(
                        services, leader, key,
                        approved_documents(services, officer, leader, pdf, n, approve=False),
                        SignatureKind.INITIAL))
                stock = statistics.median(stock_rates)
                visible = statistics.median(visible_rates)
                invisible = statistics.median(invisible_rates)
                print(f"{label:<10} {stock:>14.1f}/s {visible:>13.1f}/s {visible / stock:>5.2f}x"
                      f" {invisible:>14.1f}/s {invisible / stock:>5.2f}x")
                if label == "20 pages":
                    stock_ms, visible_20 = 1000 / stock, visible
                target = {"20 pages": TARGET_20_PAGES, "10 MiB": TARGET_10_MIB}.get(label)
                if target and visible < target:
                    failures.append(f"{label}: {visible:.1f}/s visible < target {target:.0f}/s")
            # This VM's speed varies from hour to hour (stock pyHanko 75-170 ms a signature):
            # figures scaled to the issue's reference machine say how much of a miss is ours.
            scale = stock_ms / REFERENCE_STOCK_MS
            print(f"machine: stock pyHanko {stock_ms:.0f} ms a signature here, "
                  f"{REFERENCE_STOCK_MS:.0f} ms on the issue's reference; scaled to it: "
                  f"20 pages visible {visible_20 * scale:.0f}/s (informational)")
            twenty = approved_documents(services, officer, leader, pdf_of(20), 1)[0]
            services.signatures.sign(leader, twenty, SignatureKind.LEADER, key, ORIGIN,
                                     position="CHỦ TỊCH")
            for isolate in (False, True):
                ms, median = validation_ms(
                    services, leader, twenty, ca, isolate=isolate,
                    count=20 if args.small else 2 * DOCUMENTS_PER_VALIDATOR + 2)
                where = "isolated" if isolate else "in process"
                print(f"validation, 20 pages, {where}: {ms:.1f} ms per signature, mean "
                      f"(median {median:.1f}; target ≤ {TARGET_VALIDATION_MS:.0f}; scaled to "
                      f"the reference: {ms / scale:.1f})")
                if ms > TARGET_VALIDATION_MS:
                    failures.append(f"validation ({where}) {ms:.1f} ms > "
                                    f"{TARGET_VALIDATION_MS:.0f} ms")
        finally:
            services.close()
    for failure in failures:
        print(f"MISSED: {failure}")
    if args.small:
        print("(--small: figures are informational)")
        return 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
