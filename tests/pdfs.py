"""PDF files for tests: good ones, and hostile ones built byte by byte."""

from __future__ import annotations

import zlib

from docflow.demo import directive_pdf


def good_pdf(title: str = "CHI THI") -> bytes:
    return directive_pdf(title, ["Cac cap Hoi trien khai thuc hien.", title])


def assemble(objects: list[bytes]) -> bytes:
    """A PDF from object bodies (object 1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def deflate_bomb(expanded_mb: int = 512) -> bytes:
    """One page whose content stream inflates to `expanded_mb` MiB of zeros."""
    packer = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    data = b"".join(packer.compress(chunk) for _ in range(expanded_mb)) + packer.flush()
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + \
        b"\nendstream"
    return assemble([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        stream,
    ])


def page_tree_loop() -> bytes:
    """A page tree whose node lists itself among its kids."""
    return assemble([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ])


def many_fields(count: int = 20_000) -> bytes:
    """An AcroForm of `count` text fields: every one walked in search of signatures (~1 s
    for 20,000 here, in 2026), as a hostile file could make a validation last."""
    kids = b" ".join(b"%d 0 R" % (n + 4) for n in range(count))
    return assemble([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [" + kids + b"] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        *(b"<< /FT /Tx /T (f%d) >>" % n for n in range(count)),
    ])


def truncated_pdf() -> bytes:
    return good_pdf()[:200]
