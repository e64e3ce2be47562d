"""The Decree-30 signatures as PAdES incremental updates: bytes in, bytes out.

Each function adds one signature in a new incremental update, so earlier signatures stay valid.
Which signature is which is recorded by the field name:

- `Initial-<n>`: a reviewer's initial signature (ký nháy), invisible; only before the leader;
- `Leader`: the competent person's visible signature (position, signature image, full name);
- `Seal`: the organisation's signature, the seal image over the left third of the leader's;
  refused (`OutOfOrder`) until the leader has signed;
- `Attachment-<n>`: the organisation's signature on an attachment, no image, top right of page 1.

Levels: B-B (default), B-T (RFC 3161 signature timestamp), B-LT (plus the chain's revocation data
in the DSS), B-LTA (plus a document timestamp). Every `sign_*` has a `*_plan` twin that returns
the `SignaturePlan` alone, for the remote flow in `docflow.signing.signers`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import threading
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from docflow.signing.appearance import TextLine, block_style
from docflow.signing.pagetree import CHUNK, SigningWriter
from docflow.signing.signers import DIGEST, FrozenCmsParts, SignaturePlan, SigningFailure

LEADER_FIELD = "Leader"
SEAL_FIELD = "Seal"
ATTACHMENT_PREFIX = "Attachment-"
INITIAL_PREFIX = "Initial-"
AUTHORITIES = ("KT.", "TL.", "TUQ.", "TM.", "Q.")
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
Level = Literal["B-B", "B-T", "B-LT", "B-LTA"]
LEVELS: tuple[Level, ...] = ("B-B", "B-T", "B-LT", "B-LTA")

Box = tuple[float, float, float, float]
T = TypeVar("T")
LEADER_SIZE = (220.0, 140.0)  # points: width, height of the default signature block
SEAL_SIZE = 105.0  # points: about 37 mm, a seal at actual size
ATTACHMENT_SIZE = (200.0, 32.0)
PAGE_MARGIN = 28.0  # 1 cm


class OutOfOrder(SigningFailure):
    """The signature would break the Decree-30 order (seal before the leader, twice the same)."""


@dataclass(frozen=True)
class SigningOptions:
    """The PAdES level and what it needs: a TSA from B-T, trust roots for B-LT and B-LTA."""

    level: Level = "B-B"
    tsa_url: str | None = None
    trust_roots: tuple[x509.Certificate, ...] = ()
    other_certs: tuple[x509.Certificate, ...] = ()
    allow_fetching: bool = True
    revocation_mode: str = "hard-fail"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown PAdES level {self.level!r}; one of {', '.join(LEVELS)}")
        if self.level != "B-B" and not self.tsa_url:
            raise ValueError(f"PAdES {self.level} needs a timestamp authority URL (tsa_url)")
        if self.level in ("B-LT", "B-LTA") and not self.trust_roots:
            raise ValueError(f"PAdES {self.level} needs trust roots to validate the chain")


DEFAULT_OPTIONS = SigningOptions()


@dataclass(frozen=True)
class Signed:
    pdf: bytes
    field_name: str


# --- the four signatures -----------------------------------------------------------------------


def sign_leader(pdf: bytes, signer: signers.Signer, *, authority: str | None, position: str,
                full_name: str, signature_image: bytes | None = None, box: Box | None = None,
                page: int = -1, options: SigningOptions = DEFAULT_OPTIONS) -> Signed:
    writer = _writer(pdf)
    plan = _leader_plan(writer, authority=authority, position=position, full_name=full_name,
                        signature_image=signature_image, box=box, page=page)
    return _sign(writer, signer, plan, options)


def sign_seal(pdf: bytes, signer: signers.Signer, *, seal_image: bytes | None = None,
              box: Box | None = None, options: SigningOptions = DEFAULT_OPTIONS) -> Signed:
    writer = _writer(pdf)
    return _sign(writer, signer, _seal_plan(writer, seal_image=seal_image, box=box), options)


def sign_initial(pdf: bytes, signer: signers.Signer, reviewer_index: int, *,
                 options: SigningOptions = DEFAULT_OPTIONS) -> Signed:
    writer = _writer(pdf)
    return _sign(writer, signer, _initial_plan(writer, reviewer_index), options)


def sign_attachment(pdf: bytes, signer: signers.Signer, *, number_symbol: str,
                    signed_at: datetime, options: SigningOptions = DEFAULT_OPTIONS) -> Signed:
    writer = _writer(pdf)
    plan = _attachment_plan(writer, number_symbol=number_symbol, signed_at=signed_at)
    return _sign(writer, signer, plan, options)


# --- plans, for the remote flow ----------------------------------------------------------------


def leader_plan(pdf: bytes, *, authority: str | None, position: str, full_name: str,
                signature_image: bytes | None = None, box: Box | None = None,
                page: int = -1) -> SignaturePlan:
    return _leader_plan(_writer(pdf), authority=authority, position=position,
                        full_name=full_name, signature_image=signature_image, box=box, page=page)


def seal_plan(pdf: bytes, *, seal_image: bytes | None = None,
              box: Box | None = None) -> SignaturePlan:
    return _seal_plan(_writer(pdf), seal_image=seal_image, box=box)


def initial_plan(pdf: bytes, reviewer_index: int) -> SignaturePlan:
    return _initial_plan(_writer(pdf), reviewer_index)


def attachment_plan(pdf: bytes, *, number_symbol: str, signed_at: datetime) -> SignaturePlan:
    return _attachment_plan(_writer(pdf), number_symbol=number_symbol, signed_at=signed_at)


def signature_fields(pdf: bytes) -> dict[str, bool]:
    """Every signature field of the PDF: name -> signed?"""
    return _fields(_writer(pdf))


def attachment_time(signed_at: datetime) -> str:
    """ISO 8601 in Vietnam time, e.g. 2025-03-04T09:05:00+07:00."""
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    return signed_at.astimezone(VIETNAM).isoformat(timespec="seconds")


def _leader_plan(writer: IncrementalPdfFileWriter, *, authority: str | None, position: str,
                 full_name: str, signature_image: bytes | None, box: Box | None,
                 page: int) -> SignaturePlan:
    if authority is not None and authority not in AUTHORITIES:
        raise ValueError(f"unknown authority prefix {authority!r}; one of {AUTHORITIES}")
    if not position.strip() or not full_name.strip():
        raise ValueError("the leader's signature needs a position and a full name")
    existing = _fields(writer)
    if existing.get(LEADER_FIELD):
        raise OutOfOrder("the leader has already signed this document")
    if existing.get(SEAL_FIELD):
        raise OutOfOrder("the organisation's seal is already on this document; "
                         "the leader signs before the seal")
    page_index = _page_index(writer, page)
    if box is None:
        width, _height = _page_size(writer, page_index)
        right = width - 2 * PAGE_MARGIN
        box = (right - LEADER_SIZE[0], 2 * PAGE_MARGIN, right, 2 * PAGE_MARGIN + LEADER_SIZE[1])
    position_lines = [line.strip() for line in position.strip().splitlines() if line.strip()]
    if authority:
        position_lines[0] = f"{authority} {position_lines[0]}"
    style = block_style(top=tuple(TextLine(line, bold=True) for line in position_lines),
                        bottom=(TextLine(full_name.strip(), bold=True),),
                        image=signature_image, font_size=12)
    return _plan(LEADER_FIELD, page_index, box, style, existing, name=full_name.strip(),
                 reason=f"{authority + ' ' if authority else ''}{' '.join(position_lines)}")


def _seal_plan(writer: IncrementalPdfFileWriter, *, seal_image: bytes | None,
               box: Box | None) -> SignaturePlan:
    existing = _fields(writer)
    if not existing.get(LEADER_FIELD):
        raise OutOfOrder("the organisation's seal comes after the leader's signature, "
                         "and this document carries no leader signature yet")
    if existing.get(SEAL_FIELD):
        raise OutOfOrder("the organisation's seal is already on this document")
    page_index, leader_box = _widget_place(writer, LEADER_FIELD)
    if box is None:
        x1, y1, x2, y2 = leader_box
        size = min(SEAL_SIZE, (y2 - y1))
        right = x1 + (x2 - x1) / 3  # over the left third of the leader's signature
        middle = (y1 + y2) / 2
        box = (right - size, middle - size / 2, right, middle + size / 2)
    style = block_style(image=seal_image) if seal_image is not None else None
    return _plan(SEAL_FIELD, page_index, box, style, existing, reason="organisation seal")


def _initial_plan(writer: IncrementalPdfFileWriter, reviewer_index: int) -> SignaturePlan:
    if reviewer_index < 1:
        raise ValueError("reviewer_index counts from 1")
    existing = _fields(writer)
    if existing.get(LEADER_FIELD):
        raise OutOfOrder("initial signatures come before the leader's signature")
    name = f"{INITIAL_PREFIX}{reviewer_index}"
    if existing.get(name):
        raise OutOfOrder(f"reviewer {reviewer_index} has already initialled this document")
    return _plan(name, 0, None, None, existing, reason="initial (ky nhay)")


def _attachment_plan(writer: IncrementalPdfFileWriter, *, number_symbol: str,
                     signed_at: datetime) -> SignaturePlan:
    if not number_symbol.strip():
        raise ValueError("an attachment signature needs the document's number and symbol")
    existing = _fields(writer)
    numbers = [int(m.group(1)) for name in existing
               if (m := re.fullmatch(re.escape(ATTACHMENT_PREFIX) + r"(\d+)", name))]
    index = max(numbers, default=0) + 1
    width, height = _page_size(writer, 0)
    right = width - PAGE_MARGIN
    top = height - PAGE_MARGIN - (index - 1) * (ATTACHMENT_SIZE[1] + 4)
    box = (right - ATTACHMENT_SIZE[0], top - ATTACHMENT_SIZE[1], right, top)
    style = block_style(top=(TextLine(number_symbol.strip()), TextLine(attachment_time(signed_at))),
                        font_size=10, align="right")
    return _plan(f"{ATTACHMENT_PREFIX}{index}", 0, box, style, existing,
                 reason=f"attachment of {number_symbol.strip()}")


def _plan(field_name: str, page_index: int, box: Box | None, style: object,
          existing: dict[str, bool], *, name: str | None = None,
          reason: str | None = None) -> SignaturePlan:
    meta = signers.PdfSignatureMetadata(field_name=field_name, md_algorithm=DIGEST,
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        name=name, reason=reason)
    spec = None
    if field_name not in existing:  # an empty field made in advance keeps its own place
        spec = fields.SigFieldSpec(
            sig_field_name=field_name, on_page=page_index,
            box=None if box is None else (round(box[0]), round(box[1]), round(box[2]),
                                          round(box[3])))
    return SignaturePlan(meta=meta, stamp_style=style,  # type: ignore[arg-type]
                         field_spec=spec)


# --- signing -----------------------------------------------------------------------------------


def sign_with_plan(pdf: bytes, signer: signers.Signer, plan: SignaturePlan,
                   options: SigningOptions = DEFAULT_OPTIONS) -> Signed:
    return _sign(_writer(pdf), signer, plan, options)


def _sign(writer: IncrementalPdfFileWriter, signer: signers.Signer, plan: SignaturePlan,
          options: SigningOptions) -> Signed:
    if options.level == "B-B":
        # Reserving the space ourselves skips pyHanko's dry-run signature (a second CMS build).
        pdf_signer = signers.PdfSigner(plan.meta, signer, stamp_style=plan.stamp_style,
                                       new_field_spec=plan.field_spec)
        out = _run(pdf_signer.async_sign_pdf(writer, bytes_reserved=_reserve(signer),
                                             chunk_size=CHUNK))
        return Signed(out.getvalue(), plan.field_name)
    return Signed(asyncio.run(_sign_async(writer, signer, plan, options)), plan.field_name)


class _Loop:
    """A thread's event loop for signing, closed when the thread ends."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.runner = asyncio.Runner()
        weakref.finalize(self, self.runner.close)


_LOOPS = threading.local()


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on this thread's event loop, kept from one signature to the next:
    `asyncio.run` (what pyHanko's `sign_pdf` does) makes and closes a loop each time, ~0.2 ms,
    a twentieth of a signature. By process id too: a fork must not share its parent's
    epoll instance."""
    loop = getattr(_LOOPS, "loop", None)
    if loop is None or loop.pid != os.getpid():
        loop = _LOOPS.loop = _Loop()
    return loop.runner.run(work)


async def _sign_async(writer: IncrementalPdfFileWriter, signer: signers.Signer,
                      plan: SignaturePlan, options: SigningOptions) -> bytes:
    assert options.tsa_url is not None
    async with aiohttp.ClientSession() as session:
        meta = plan.meta
        if options.level in ("B-LT", "B-LTA"):
            context = ValidationContext(
                trust_roots=list(options.trust_roots), other_certs=list(options.other_certs),
                allow_fetching=options.allow_fetching, revocation_mode=options.revocation_mode,
                fetcher_backend=AIOHttpFetcherBackend(session))
            meta = dataclasses.replace(meta, embed_validation_info=True,
                                       use_pades_lta=options.level == "B-LTA",
                                       validation_context=context)
        pdf_signer = signers.PdfSigner(
            meta, signer, timestamper=timestamps.HTTPTimeStamper(options.tsa_url, session=session),
            stamp_style=plan.stamp_style, new_field_spec=plan.field_spec)
        out = BytesIO()
        await pdf_signer.async_sign_pdf(writer, output=out)
    return out.getvalue()


def add_long_term(pdf: bytes, field_name: str, options: SigningOptions) -> bytes:
    """Take a finished B-B/B-T signature (e.g. from the remote flow) to B-LT or B-LTA."""
    if options.level not in ("B-LT", "B-LTA"):
        raise ValueError("add_long_term is for B-LT and B-LTA")
    return asyncio.run(_add_long_term(pdf, field_name, options))


async def _add_long_term(pdf: bytes, field_name: str, options: SigningOptions) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.validation.dss import async_add_validation_info

    assert options.tsa_url is not None
    async with aiohttp.ClientSession() as session:
        context = ValidationContext(
            trust_roots=list(options.trust_roots), other_certs=list(options.other_certs),
            allow_fetching=options.allow_fetching, revocation_mode=options.revocation_mode,
            fetcher_backend=AIOHttpFetcherBackend(session))
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = next((sig for sig in reader.embedded_signatures
                         if sig.field_name == field_name), None)
        if embedded is None:
            raise ValueError(f"no signature in field {field_name!r}")
        buf = BytesIO()
        await async_add_validation_info(embedded, context, output=buf)
        if options.level == "B-LTA":
            stamper = PdfTimeStamper(timestamps.HTTPTimeStamper(options.tsa_url, session=session))
            out = BytesIO()
            await stamper.async_timestamp_pdf(SigningWriter(buf, strict=False),
                                              DIGEST, context, output=out)
            return out.getvalue()
    return buf.getvalue()


def _reserve(signer: signers.Signer) -> int:
    """Room for the CMS container, in hex digits: its certificates, signature and attributes."""
    if isinstance(signer, FrozenCmsParts):
        # ECDSA values vary by a few bytes between signatures; 128 covers any of them.
        return 2 * (signer.container_size(DIGEST) + 128)
    certs = [signer.signing_cert, *(signer.cert_registry or ())]
    return 2 * (3072 + sum(len(cert.dump()) for cert in certs if cert is not None))


# --- reading the document ----------------------------------------------------------------------


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    return SigningWriter(BytesIO(pdf), strict=False)


def _fields(writer: IncrementalPdfFileWriter) -> dict[str, bool]:
    return {name: value is not None
            for name, value, _ref in fields.enumerate_sig_fields(writer)}


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _page_index(writer: IncrementalPdfFileWriter, page: int) -> int:
    count = _page_count(writer)
    index = page + count if page < 0 else page
    if not 0 <= index < count:
        raise ValueError(f"page {page} is out of range: the document has {count} pages")
    return index


def _page_size(writer: IncrementalPdfFileWriter, index: int) -> tuple[float, float]:
    page_ref, _resources = writer.find_page_for_modification(  # type: ignore[no-untyped-call]
        index)
    page = page_ref.get_object()
    while "/MediaBox" not in page and "/Parent" in page:
        page = page["/Parent"]
    x1, y1, x2, y2 = (float(v) for v in page["/MediaBox"])
    return abs(x2 - x1), abs(y2 - y1)


def _widget_place(writer: IncrementalPdfFileWriter, field_name: str) -> tuple[int, Box]:
    """The page index and /Rect of the (first) widget of a signature field."""
    for name, _value, ref in fields.enumerate_sig_fields(writer, with_name=field_name):
        if name != field_name:
            continue
        widget = ref.get_object()
        if "/Rect" not in widget and "/Kids" in widget:
            widget = widget["/Kids"][0].get_object()
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        widget_ref = ref if "/Kids" not in ref.get_object() else ref.get_object()["/Kids"][0]
        return _page_of(writer, widget_ref), (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    raise OutOfOrder(f"no signature field {field_name!r}")


def _page_of(writer: IncrementalPdfFileWriter, widget_ref: generic.IndirectObject) -> int:
    # From the back: the leader's block is on the last page unless a box put it elsewhere.
    for index in reversed(range(_page_count(writer))):
        page_ref, _resources = writer.find_page_for_modification(  # type: ignore[no-untyped-call]
            index)
        annots = page_ref.get_object().get("/Annots")
        if annots is None:
            continue
        if any(isinstance(a, generic.IndirectObject) and a.reference == widget_ref.reference
               for a in annots.get_object()):
            return index
    return _page_count(writer) - 1
