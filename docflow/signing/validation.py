"""Validation of signed PDFs: one verdict per document, one report per signature.

`validate_pdf(data, trust_roots=..., limits=...)` is what intake, the API and `docflow verify` call.
By default (``isolate=True``) the pyHanko work runs in a validator process (forked from a warm
zygote, `docflow.signing.isolation`; nothing else runs in it) under an address-space limit, a
CPU-time limit and a wall-clock timeout, so a hostile PDF (a decompression bomb, a reference
loop) cannot take the service down; `validate_pdf_in_process` is the function the validator
runs, for callers that already isolate (benchmarks, tests, the validator itself).

Verdicts follow ETSI EN 319 102-1: every reason carries an ETSI sub-indication as its code
(``FORMAT_FAILURE``, ``HASH_FAILURE``, ``SIG_CRYPTO_FAILURE``, ``REVOKED``,
``NO_CERTIFICATE_CHAIN_FOUND``, ``CRYPTO_CONSTRAINTS_FAILURE``, ...), mapped from pyHanko's
statuses and exceptions. Two codes are docflow's own because no sub-indication fits:
``RESOURCE_LIMIT_EXCEEDED`` (size, time or memory limit hit: INDETERMINATE) and ``GENERIC``
(the validator itself failed: INDETERMINATE).

The document verdict: INVALID if any signature is INVALID, else INDETERMINATE if any is, else
VALID; NO_SIGNATURE when there is no filled signature field. Permitted changes after a signature
(LTA updates, form filling, annotations where the DocMDP policy allows them) keep it VALID and
add a warning. Everything fails closed: what cannot be parsed is INVALID (FORMAT_FAILURE), what
cannot be finished within the limits is INDETERMINATE, never VALID.

Checks made here on top of pyHanko's (by principle, not by file):

- the ``/ByteRange`` must be ``[0 a b c]`` with ``0 < a < b``, ``b + c`` within the file, and
  the gap ``[a, b)`` must hold exactly ``<hex>`` whose bytes are the signature's ``/Contents``
  (signature wrapping, universal signature forgery);
- coverage must be the entire file or the entire signed revision (pyHanko's coverage level);
- pyHanko's difference analysis must find only LTA updates, form filling or (where DocMDP
  allows) annotations after each signature, and DocMDP must be respected (incremental saving
  attacks, shadow hide/replace, evil annotations, sneaky signatures);
- pyHanko's algorithm policy (SHA-1, MD5 and MD2 disallowed) gives CRYPTO_CONSTRAINTS_FAILURE;
- a signature timestamp must be intact and valid, or the signature is INVALID;
- a CMS signature without signed attributes binds no signing certificate: INDETERMINATE.

Trust roots are `cryptography.x509.Certificate` objects (the project's certificate type);
they are converted to asn1crypto for pyHanko here. No URL is ever fetched: revocation data
comes only from the document (its DSS and the signatures' revocation-info attributes).
"""

from __future__ import annotations

import asyncio
import enum
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESStatus, AdESSubIndic
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import find_cms_attribute_iter
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.generic_cms import (
    extract_tst_data_iter,
    message_imprint_checker,
    validate_tst_signed_data,
)
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleTrustManager

from docflow.signing.isolation import Zygote

__all__ = [
    "Reason",
    "SignatureReport",
    "ValidationLimits",
    "ValidationReport",
    "Verdict",
    "validate_pdf",
    "validate_pdf_in_process",
]

RESOURCE_LIMIT_EXCEEDED = "RESOURCE_LIMIT_EXCEEDED"
GENERIC = "GENERIC"
_AUTHORITY = re.compile(r"\s*(KT|TL|TUQ|TM|Q)\.")
_HEX_GAP = re.compile(rb"<([0-9A-Fa-f]*)>")
_PADES_SUBFILTER = "/ETSI.CAdES.detached"


class Verdict(enum.StrEnum):
    """Overall or per-signature outcome (ETSI EN 319 102-1 main indications, plus NO_SIGNATURE)."""

    VALID = "VALID"
    """Intact, cryptographically valid, trusted, and only permitted changes after signing."""

    INVALID = "INVALID"
    """Proven broken: tampered, forged, malformed, revoked or illegally modified (TOTAL-FAILED)."""

    INDETERMINATE = "INDETERMINATE"
    """Not enough to decide: untrusted chain, disallowed algorithm, limits exceeded, ..."""

    NO_SIGNATURE = "NO_SIGNATURE"
    """The document has no filled signature field."""

    @property
    def severity(self) -> int:
        """Order used to combine verdicts: the highest wins."""
        return _SEVERITY[self]


_SEVERITY = {Verdict.NO_SIGNATURE: 0, Verdict.VALID: 1, Verdict.INDETERMINATE: 2,
             Verdict.INVALID: 3}
_EXIT_CODES = {Verdict.VALID: 0, Verdict.INVALID: 1, Verdict.INDETERMINATE: 3,
               Verdict.NO_SIGNATURE: 4}


@dataclass(frozen=True)
class Reason:
    """Why a verdict is what it is, or what a warning is about."""

    code: str
    """An ETSI EN 319 102-1 sub-indication (e.g. ``HASH_FAILURE``), or for warnings a short
    upper-case tag (e.g. ``FORM_FILLING``); ``RESOURCE_LIMIT_EXCEEDED`` and ``GENERIC`` are
    docflow's own (see the module docstring)."""

    message: str
    """A sentence for people; it names the signature field when it is about one."""

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ValidationLimits:
    """Bounds on the work spent on one document. Exceeding any of them is INDETERMINATE."""

    max_bytes: int = 64 << 20
    """Largest document accepted for validation, in bytes (checked before any parsing)."""

    timeout_seconds: float = 30.0
    """Wall-clock limit on one document in the validator process, hand-over included."""

    cpu_seconds: int = 20
    """CPU time one document may take in the validator process (``RLIMIT_CPU``, counted from
    what the process had spent before it)."""

    memory_bytes: int = 1 << 30
    """Address-space limit (``RLIMIT_AS``) of the validator process, interpreter included
    (an idle one with pyHanko loaded uses about 150 MB of it)."""

    max_signatures: int = 64
    """Most signature fields examined; more is INDETERMINATE."""

    def to_json(self) -> dict[str, Any]:
        return {"max_bytes": self.max_bytes, "timeout_seconds": self.timeout_seconds,
                "cpu_seconds": self.cpu_seconds, "memory_bytes": self.memory_bytes,
                "max_signatures": self.max_signatures}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationLimits:
        return cls(max_bytes=int(data["max_bytes"]),
                   timeout_seconds=float(data["timeout_seconds"]),
                   cpu_seconds=int(data["cpu_seconds"]),
                   memory_bytes=int(data["memory_bytes"]),
                   max_signatures=int(data["max_signatures"]))


@dataclass(frozen=True)
class SignatureReport:
    """The outcome for one signature or document timestamp.

    For a signature whose structure could not be analysed (unparseable CMS, broken
    ``/ByteRange``), the booleans are ``False``, coverage ``PARTIAL`` and modifications
    ``OTHER``: nothing was established, so nothing is claimed.
    """

    field: str
    """Fully qualified name of the signature form field."""

    kind: str
    """``signature`` (``/Sig``) or ``doc_timestamp`` (``/DocTimeStamp``, RFC 3161)."""

    signer: str | None
    """Subject of the signing certificate (the TSA for a document timestamp), or ``None``
    when no certificate could be identified."""

    authority: str | None
    """The Decree-30 authority prefix (``KT.``, ``TL.``, ``TUQ.``, ``TM.``, ``Q.``) when the
    signature's ``/Reason`` starts with one, else ``None``."""

    signing_time: datetime | None
    """Signing time claimed by the signer (CMS signing-time or ``/M``), not proof of anything;
    the time of the token for a document timestamp."""

    intact: bool
    """The digest of the signed byte ranges matches the digest that was signed."""

    valid: bool
    """The signature value is cryptographically valid for the signing certificate."""

    trusted: bool
    """A chain to one of the configured trust roots was built and validated."""

    revocation: str
    """``revoked`` when a revocation was found; ``good`` when the certificate is trusted and
    revocation data from the document covers it; else ``unknown`` (nothing is fetched)."""

    timestamp: datetime | None
    """Time of an intact, valid RFC 3161 signature timestamp (of the token itself for a
    document timestamp), else ``None``."""

    coverage: str
    """``ENTIRE_FILE``, ``ENTIRE_REVISION`` (later incremental updates exist) or ``PARTIAL``
    (any non-standard coverage; always INVALID)."""

    modifications: str
    """What changed after signing, per pyHanko's difference analysis: ``NONE``,
    ``LTA_UPDATES``, ``FORM_FILLING``, ``ANNOTATIONS`` or ``OTHER``."""

    pades_level: str | None
    """``B-B``, ``B-T``, ``B-LT`` or ``B-LTA`` for an ``ETSI.CAdES.detached`` signature with a
    signing-certificate attribute; ``None`` otherwise (and for document timestamps)."""

    verdict: Verdict
    """The verdict for this signature alone."""

    reasons: tuple[Reason, ...] = ()
    """Why the verdict is not VALID (empty when it is)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field, "kind": self.kind, "signer": self.signer,
            "authority": self.authority,
            "signing_time": _iso(self.signing_time),
            "intact": self.intact, "valid": self.valid, "trusted": self.trusted,
            "revocation": self.revocation, "timestamp": _iso(self.timestamp),
            "coverage": self.coverage, "modifications": self.modifications,
            "pades_level": self.pades_level, "verdict": self.verdict.value,
            "reasons": [r.to_json() for r in self.reasons],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignatureReport:
        return cls(
            field=str(data["field"]), kind=str(data["kind"]), signer=data["signer"],
            authority=data["authority"], signing_time=_from_iso(data["signing_time"]),
            intact=bool(data["intact"]), valid=bool(data["valid"]),
            trusted=bool(data["trusted"]), revocation=str(data["revocation"]),
            timestamp=_from_iso(data["timestamp"]), coverage=str(data["coverage"]),
            modifications=str(data["modifications"]), pades_level=data["pades_level"],
            verdict=Verdict(data["verdict"]),
            reasons=tuple(Reason(str(r["code"]), str(r["message"])) for r in data["reasons"]),
        )


@dataclass(frozen=True)
class ValidationReport:
    """The outcome for a whole document."""

    verdict: Verdict
    """INVALID if any signature is INVALID, else INDETERMINATE if any is, else VALID;
    NO_SIGNATURE when nothing is signed. Document-level failures (unparseable: INVALID;
    limits exceeded: INDETERMINATE) decide it on their own."""

    reasons: tuple[Reason, ...] = ()
    """Why the verdict is not VALID: document-level reasons, then the reasons of the
    signatures that decided the verdict (their messages name the field)."""

    warnings: tuple[Reason, ...] = ()
    """Things a reader must be told even when the verdict is VALID: permitted changes after
    signing, a signature referenced from several fields, a signature outside PAdES."""

    signatures: tuple[SignatureReport, ...] = ()
    """One report per signature or document timestamp, in signing order."""

    @property
    def exit_code(self) -> int:
        """``docflow verify`` exit status: 0 VALID, 1 INVALID, 3 INDETERMINATE, 4 NO_SIGNATURE."""
        return _EXIT_CODES[self.verdict]

    def to_json(self) -> dict[str, Any]:
        """The report as the issue's JSON shape (plain dicts, lists, strings, booleans)."""
        return {
            "verdict": self.verdict.value,
            "reasons": [r.to_json() for r in self.reasons],
            "warnings": [w.to_json() for w in self.warnings],
            "signatures": [s.to_json() for s in self.signatures],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationReport:
        """Inverse of `to_json` (used to read the validator process's answer)."""
        return cls(
            verdict=Verdict(data["verdict"]),
            reasons=tuple(Reason(str(r["code"]), str(r["message"])) for r in data["reasons"]),
            warnings=tuple(Reason(str(r["code"]), str(r["message"]))
                           for r in data["warnings"]),
            signatures=tuple(SignatureReport.from_json(s) for s in data["signatures"]),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _document_failure(verdict: Verdict, code: str, message: str) -> ValidationReport:
    return ValidationReport(verdict=verdict, reasons=(Reason(code, message),))


# --------------------------------------------------------------------------------------------
# Entry points


def validate_pdf(
    data: bytes,
    *,
    trust_roots: Sequence[x509.Certificate],
    limits: ValidationLimits = ValidationLimits(),
    isolate: bool = True,
) -> ValidationReport:
    """Validate every signature in `data` against `trust_roots`.

    With ``isolate=True`` (the default, for anything that handles uploaded files) the work
    runs in a validator process bounded by `limits`; with ``isolate=False`` it runs here, bounded
    only by `limits.max_bytes` and `limits.max_signatures`.
    """
    if len(data) > limits.max_bytes:
        return _too_big(len(data), limits)
    if not isolate:
        return validate_pdf_in_process(data, trust_roots=trust_roots, limits=limits)
    return _validate_isolated(data, trust_roots, limits)


def validate_pdf_in_process(
    data: bytes,
    *,
    trust_roots: Sequence[x509.Certificate],
    limits: ValidationLimits = ValidationLimits(),
) -> ValidationReport:
    """The validation itself, in this process (what the validator process runs).

    Must not be called from a running event loop (it runs its own with `asyncio.run`).
    """
    if len(data) > limits.max_bytes:
        return _too_big(len(data), limits)
    roots = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in trust_roots]
    try:
        return asyncio.run(_validate_document(data, roots, limits))
    except (MemoryError, RecursionError) as e:
        return _document_failure(Verdict.INDETERMINATE, RESOURCE_LIMIT_EXCEEDED,
                                 f"validation ran out of {_resource_name(e)}")


def _resource_name(e: BaseException) -> str:
    return "memory" if isinstance(e, MemoryError) else "stack depth (reference nesting)"


def _too_big(size: int, limits: ValidationLimits) -> ValidationReport:
    return _document_failure(
        Verdict.INDETERMINATE, RESOURCE_LIMIT_EXCEEDED,
        f"the document is {size} bytes, over the validation limit of {limits.max_bytes}")


# --------------------------------------------------------------------------------------------
# The validator processes


DOCUMENTS_PER_VALIDATOR = 64
"""Documents a validator process takes, one after another, before a fresh fork replaces it
(`docflow.signing.isolation`): forking and warming one per document cost ~5 ms of a ~9 ms
validation; one in 64 spreads that to nothing. A document that ends in anything but a report
(a limit, a crash) or grows the process ends it sooner."""

_ZYGOTE = Zygote(f"{__name__}:handle_request", warm_up=f"{__name__}:warm_up",
                 reuse=DOCUMENTS_PER_VALIDATOR)


def start_isolation() -> None:
    """Start the validating zygote now: a process that forks its workers (`docflow worker`
    a work horse per job, `docflow serve` its web processes) calls this first, so every
    fork validates through the one zygote instead of starting its own (~1 s each)."""
    _ZYGOTE.start()


def _validate_isolated(data: bytes, trust_roots: Sequence[x509.Certificate],
                       limits: ValidationLimits) -> ValidationReport:
    header = {"trust_roots": [c.public_bytes(Encoding.DER).hex() for c in trust_roots],
              "limits": limits.to_json(), "memory_bytes": limits.memory_bytes,
              "cpu_seconds": limits.cpu_seconds}
    kind, body = _ZYGOTE.run(header, data, limits.timeout_seconds)
    if kind == "report":
        try:
            return ValidationReport.from_json(body)
        except (ValueError, KeyError, TypeError):
            kind, body = "failed", "the validator process gave an unreadable report"
    if kind == "memory":
        return _document_failure(Verdict.INDETERMINATE, RESOURCE_LIMIT_EXCEEDED,
                                 f"validation ran out of memory ({limits.memory_bytes} bytes)")
    if kind in ("cpu", "timeout"):
        stopped = f"validation was stopped by {body}" if kind == "cpu" else str(body)
        return _document_failure(Verdict.INDETERMINATE, RESOURCE_LIMIT_EXCEEDED, stopped)
    return _document_failure(Verdict.INDETERMINATE, GENERIC, str(body)[:300])


def handle_request(header: dict[str, Any], data: bytes) -> tuple[str, Any]:
    """What a validator process runs (`docflow.signing.isolation`), its limits already set."""
    roots = [x509.load_der_x509_certificate(bytes.fromhex(c)) for c in header["trust_roots"]]
    limits = ValidationLimits.from_json(header["limits"])
    return ("report", validate_pdf_in_process(data, trust_roots=roots, limits=limits).to_json())


_WARM: list[tuple[bytes, x509.Certificate]] = []


def warm_up() -> None:
    """Validate one throwaway signed PDF: in the zygote before it forks, so the imports and
    caches a first validation fills are its validators' already (~21 -> ~15 ms a document);
    in each validator before its first document, so the pages a validation writes are its
    own before a document comes (-> ~8 ms). The PDF is made once, the first time."""
    if _WARM:
        validate_pdf_in_process(_WARM[0][0], trust_roots=[_WARM[0][1]])
        return
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    # RSA, as most signing certificates here are (the Government Cipher Committee's CA issues
    # RSA): its verification code is then loaded too.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "docflow warm-up")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(minutes=10))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    signer = signers.SimpleSigner(
        signing_cert=asn1_cert,
        cert_registry=SimpleCertificateStore.from_certs([asn1_cert]),  # type: ignore[no-untyped-call]
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            Encoding.DER, PrivateFormat.PKCS8, NoEncryption())))
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(_BLANK_PDF)),
        signers.PdfSignatureMetadata(field_name="WarmUp",
                                     subfilter=fields.SigSeedSubFilter.PADES), signer=signer)
    report = validate_pdf_in_process(out.getvalue(), trust_roots=[cert])
    if report.verdict is not Verdict.VALID:  # then the warm-up missed the paths that matter
        raise RuntimeError(f"warm-up document is {report.verdict.value}: {report.reasons}")
    _WARM.append((out.getvalue(), cert))


_BLANK_PDF = (
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n"
    b"0000000115 00000 n \ntrailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n186\n%%EOF\n")


# --------------------------------------------------------------------------------------------
# The validation proper


class _EmbeddedSignature(EmbeddedPdfSignature):
    """pyHanko's embedded signature, minus its blanket refusal of hybrid-reference files.

    A strict reader refuses every signature in a file with hybrid cross-references (an
    ``/XRefStm`` beside a classic table), which many producers write (DSS, iText). pyHanko
    reads such files the way PDF 1.5+ readers do, and its coverage and difference analysis
    still run; the report carries a ``HYBRID_XREF`` warning instead.
    """

    def _enforce_hybrid_xref_policy(self) -> None:
        return None


@dataclass
class _RevInfo:
    """Revocation data found in the document (never fetched)."""

    ocsps: list[Any] = field(default_factory=list)
    crls: list[Any] = field(default_factory=list)
    certs: list[Any] = field(default_factory=list)


async def _validate_document(data: bytes, roots: list[Any],
                             limits: ValidationLimits) -> ValidationReport:
    if b"%PDF-" not in data[:1024]:
        return _document_failure(Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name,
                                 "the file is not a PDF (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        if reader.encrypted:
            return _document_failure(
                Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name,
                "encrypted PDFs are not accepted: their signatures cannot be checked")
        found = list(enumerate_sig_fields(reader, filled_status=True))
    except (MemoryError, RecursionError):
        raise
    except Exception as e:
        return _document_failure(Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name,
                                 f"the PDF cannot be parsed: {_describe(e)}")
    if not found:
        return ValidationReport(verdict=Verdict.NO_SIGNATURE)
    if len(found) > limits.max_signatures:
        return _document_failure(
            Verdict.INDETERMINATE, RESOURCE_LIMIT_EXCEEDED,
            f"{len(found)} signature fields, over the limit of {limits.max_signatures}")

    warnings: list[Reason] = []
    if reader.xrefs.hybrid_xrefs_present:
        warnings.append(Reason("HYBRID_XREF", (
            "the file has hybrid cross-reference sections; PDF readers older than 1.5 may "
            "show different content")))
    revinfo = _document_revinfo(reader, warnings)
    # One signature dictionary referenced from several fields is one signature.
    by_ref: dict[Any, list[str]] = {}
    entries: list[tuple[str, Any, Any]] = []
    for name, sig_obj, sig_field in found:
        key = sig_obj.reference if isinstance(sig_obj, generic.IndirectObject) else id(sig_obj)
        if key in by_ref:
            by_ref[key].append(name)
            continue
        by_ref[key] = [name]
        entries.append((name, sig_obj, sig_field))
    for names in by_ref.values():
        if len(names) > 1:
            warnings.append(Reason("SHARED_SIGNATURE", (
                f"one signature is referenced from {len(names)} fields "
                f"({', '.join(names)}); it is reported and counted once")))

    embedded: list[tuple[str, EmbeddedPdfSignature | SignatureReport]] = []
    for name, _sig_obj, sig_field in entries:
        try:
            embedded.append((name, _EmbeddedSignature(reader, sig_field, name)))
        except (MemoryError, RecursionError):
            raise
        except Exception as e:
            embedded.append((name, _broken(name, Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name,
                                          f"the signature cannot be read: {_describe(e)}")))
    timestamp_revisions = [
        emb.signed_revision for _, emb in embedded
        if isinstance(emb, EmbeddedPdfSignature) and _is_doc_timestamp(emb)]

    reports: list[tuple[int, SignatureReport]] = []
    for _name, emb in embedded:
        if isinstance(emb, SignatureReport):
            reports.append((-1, emb))
            continue
        report = await _validate_one(emb, data, roots, revinfo, timestamp_revisions, warnings)
        reports.append((emb.signed_revision, report))
    reports.sort(key=lambda item: item[0])
    signatures = tuple(r for _, r in reports)
    verdict = max((s.verdict for s in signatures), key=lambda v: v.severity)
    reasons = tuple(
        Reason(r.code, f"{s.field}: {r.message}")
        for s in signatures if s.verdict is verdict for r in s.reasons)
    return ValidationReport(verdict=verdict, reasons=reasons, warnings=tuple(warnings),
                            signatures=signatures)


def _describe(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def _broken(name: str, verdict: Verdict, code: str, message: str,
            kind: str = "signature") -> SignatureReport:
    return SignatureReport(
        field=name, kind=kind, signer=None, authority=None, signing_time=None, intact=False,
        valid=False, trusted=False, revocation="unknown", timestamp=None, coverage="PARTIAL",
        modifications="OTHER", pades_level=None, verdict=verdict,
        reasons=(Reason(code, message),))


def _is_doc_timestamp(emb: EmbeddedPdfSignature) -> bool:
    return bool(emb.sig_object.get("/Type") == "/DocTimeStamp")


def _document_revinfo(reader: PdfFileReader, warnings: list[Reason]) -> _RevInfo:
    revinfo = _RevInfo()
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        revinfo.certs = list(dss.load_certs())
        revinfo.ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().data)
                         for ref in dss.ocsps]
        revinfo.crls = [asn1_crl.CertificateList.load(ref.get_object().data)
                        for ref in dss.crls]
    except NoDSSFoundError:
        pass
    except (MemoryError, RecursionError):
        raise
    except Exception as e:
        warnings.append(Reason("DSS_UNREADABLE",
                               f"the document security store cannot be read: {_describe(e)}"))
    return revinfo


def _check_byte_range(emb: EmbeddedPdfSignature, data: bytes) -> str | None:
    """Why the /ByteRange is not a standard one whose gap holds exactly /Contents, or None."""
    byte_range = emb.sig_object.get("/ByteRange")
    if not isinstance(byte_range, list | tuple) or len(byte_range) != 4:
        return "/ByteRange is not an array of four numbers"
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in byte_range):
        return "/ByteRange holds something other than integers"
    start1, len1, start2, len2 = (int(v) for v in byte_range)
    if start1 != 0 or len1 <= 0 or start2 <= len1 or len2 < 0:
        return f"/ByteRange {[start1, len1, start2, len2]} is not [0 a b c] with 0 < a < b"
    if start2 + len2 > len(data):
        return f"/ByteRange {[start1, len1, start2, len2]} reaches past the end of the file"
    gap = _HEX_GAP.fullmatch(data[len1:start2])
    if gap is None or len(gap.group(1)) % 2:
        return ("the bytes the /ByteRange leaves out are not just the signature's hex string "
                "(signature wrapping)")
    if bytes.fromhex(gap.group(1).decode("ascii")) != emb.pkcs7_content:
        return "the bytes the /ByteRange leaves out are not this signature's /Contents"
    if not emb.pkcs7_content.strip(b"\0"):
        return "/Contents is empty"
    return None


async def _validate_one(emb: EmbeddedPdfSignature, data: bytes, roots: list[Any],
                        revinfo: _RevInfo, timestamp_revisions: list[int],
                        warnings: list[Reason]) -> SignatureReport:
    name = emb.field_name
    doc_ts = _is_doc_timestamp(emb)
    kind = "doc_timestamp" if doc_ts else "signature"
    problem = _check_byte_range(emb, data)
    if problem is not None:
        return _broken(name, Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name, problem, kind)
    subfilter = emb.sig_object.get("/SubFilter")
    allowed = ("/ETSI.RFC3161",) if doc_ts else (
        "/adbe.pkcs7.detached", _PADES_SUBFILTER, "/ETSI.PBAD.detached")
    if subfilter not in allowed:
        return _broken(name, Verdict.INDETERMINATE, AdESFailure.FORMAT_FAILURE.name,
                       f"SubFilter {subfilter} is not supported for a {kind}", kind)

    own = _signature_revinfo(emb)
    context = ValidationContext(
        trust_manager=SimpleTrustManager.build(trust_roots=roots),
        other_certs=revinfo.certs + own.certs, ocsps=revinfo.ocsps + own.ocsps,
        crls=revinfo.crls + own.crls, allow_fetching=False, revocation_mode="soft-fail")
    status: PdfSignatureStatus | DocumentTimestampStatus
    extra: Reason | None = None
    try:
        if doc_ts:
            status = await async_validate_pdf_timestamp(emb, context)
        else:
            status = await async_validate_pdf_signature(emb, context)
            extra = await _check_all_signature_timestamps(emb, context)
    except (MemoryError, RecursionError):
        raise
    except SignatureValidationError as e:
        indic = e.ades_subindication
        if indic is None:
            return _broken(name, Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name,
                           e.failure_message, kind)
        return _broken(name, _verdict_of(indic), indic.standard_name, e.failure_message, kind)
    except Exception as e:
        return _broken(name, Verdict.INVALID, AdESFailure.FORMAT_FAILURE.name,
                       f"the signature cannot be validated: {_describe(e)}", kind)
    report = _judge(emb, status, revinfo, own, timestamp_revisions, warnings)
    if extra is None:
        return report
    return replace(report, verdict=Verdict.INVALID, reasons=(extra, *report.reasons))


def _signature_revinfo(emb: EmbeddedPdfSignature) -> _RevInfo:
    """Revocation data carried in the CMS (adbe-revocationInfoArchival), if any."""
    found = _RevInfo()
    signed_attrs = emb.signer_info["signed_attrs"]
    if not signed_attrs:
        return found
    try:
        for archive in find_cms_attribute_iter(signed_attrs, "adobe_revocation_info_archival"):
            found.crls.extend(archive["crl"] or ())
            found.ocsps.extend(archive["ocsp"] or ())
    except (KeyError, ValueError):
        pass
    return found


def _verdict_of(indic: AdESSubIndic) -> Verdict:
    return Verdict.INVALID if indic.status is AdESStatus.FAILED else Verdict.INDETERMINATE


def _judge(emb: EmbeddedPdfSignature, status: PdfSignatureStatus | DocumentTimestampStatus,
           revinfo: _RevInfo, own: _RevInfo, timestamp_revisions: list[int],
           warnings: list[Reason]) -> SignatureReport:
    name = emb.field_name
    doc_ts = isinstance(status, DocumentTimestampStatus)
    failures: list[Reason] = []
    doubts: list[Reason] = []

    if not status.intact:
        failures.append(Reason(AdESFailure.HASH_FAILURE.name,
                               "the signed bytes do not match the signed digest"))
    if not status.valid:
        failures.append(Reason(AdESFailure.SIG_CRYPTO_FAILURE.name,
                               "the signature value does not verify with the certificate"))

    coverage = status.coverage
    if coverage is None or coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        failures.append(Reason(AdESFailure.FORMAT_FAILURE.name, (
            "the signature does not cover its whole revision "
            f"({coverage.name if coverage else 'unknown coverage'})")))
    modification = status.modification_level or ModificationLevel.OTHER
    if modification is ModificationLevel.OTHER or status.docmdp_ok is False:
        detail = (str(status.diff_result) if status.diff_result is not None
                  and not isinstance(status.diff_result, DiffResult) else modification.name)
        failures.append(Reason(AdESFailure.FORMAT_FAILURE.name, (
            "the document was changed after signing in a way that is not permitted: "
            f"{detail[:300]}")))
    elif modification is not ModificationLevel.NONE and (swapped := _appearance_swaps(emb)):
        failures.append(Reason(AdESFailure.FORMAT_FAILURE.name, (
            "after signing, the appearance of form field(s) "
            f"{', '.join(swapped)} was replaced while their value stayed the same: what is "
            "shown is no longer what was signed (shadow attack)")))
    elif modification is not ModificationLevel.NONE:
        changed = (sorted(status.diff_result.changed_form_fields)
                   if isinstance(status.diff_result, DiffResult) else [])
        what = f" (fields changed: {', '.join(changed)})" if changed else ""
        warnings.append(Reason(modification.name, (
            f"{name}: the document was changed after this signature, within what is "
            f"permitted: {modification.name.replace('_', ' ').lower()}{what}")))

    ts_time = None
    if isinstance(status, PdfSignatureStatus):
        _judge_tst("signature timestamp", status.timestamp_validity, failures, doubts)
        _judge_tst("content timestamp", status.content_timestamp_validity, failures, doubts)
        if status.timestamp_validity is not None and status.timestamp_validity.intact \
                and status.timestamp_validity.valid:
            ts_time = status.timestamp_validity.timestamp
        if status.seed_value_constraint_error is not None:
            doubts.append(Reason(AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name,
                                 status.seed_value_constraint_error.failure_message))
        if not emb.signer_info["signed_attrs"]:
            doubts.append(Reason(AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND.name, (
                "the CMS signature has no signed attributes, so nothing binds the signing "
                "certificate to it (not PAdES)")))
    else:
        ts_time = status.timestamp

    _judge_trust(status, ts_time, failures, doubts)

    pades_level = None if doc_ts else _pades_level(emb, ts_time, revinfo, own,
                                                   timestamp_revisions)
    if not doc_ts and pades_level is None and emb.signer_info["signed_attrs"]:
        warnings.append(Reason("NOT_PADES", (
            f"{name}: not a PAdES baseline signature (SubFilter "
            f"{emb.sig_object.get('/SubFilter')}, or no signing-certificate attribute)")))

    if failures:
        verdict, reasons = Verdict.INVALID, failures + doubts
    elif doubts:
        verdict, reasons = Verdict.INDETERMINATE, doubts
    else:
        verdict, reasons = Verdict.VALID, []

    signer_time = status.timestamp if isinstance(status, DocumentTimestampStatus) \
        else status.signer_reported_dt
    return SignatureReport(
        field=name, kind="doc_timestamp" if doc_ts else "signature",
        signer=status.signing_cert.subject.human_friendly,
        authority=_authority(emb), signing_time=signer_time,
        intact=status.intact, valid=status.valid, trusted=status.trusted,
        revocation=_revocation(status, revinfo, own), timestamp=ts_time,
        coverage=(coverage.name if coverage is not None
                  and coverage >= SignatureCoverageLevel.ENTIRE_REVISION else "PARTIAL"),
        modifications=modification.name, pades_level=pades_level, verdict=verdict,
        reasons=tuple(reasons))


def _appearance_swaps(emb: EmbeddedPdfSignature) -> list[str]:
    """Form fields (not signature fields) whose appearance changed after `emb` was signed
    while their value did not.

    Filling in a form after signing changes a field's value and regenerates its appearance;
    repainting a field so it shows something else than its unchanged value is not form
    filling, whatever the difference analysis calls it.
    """
    reader = emb.reader
    signed = emb.signed_revision
    old = reader.get_historical_resolver(signed)
    latest = reader.get_historical_resolver(reader.xrefs.total_revisions - 1)
    swapped: list[str] = []
    seen: set[Any] = set()
    for revision in range(signed + 1, reader.xrefs.total_revisions):
        for ref in reader.xrefs.explicit_refs_in_revision(revision):
            if ref in seen:
                continue
            seen.add(ref)
            try:
                before = old.get_object(ref)
                after = latest.get_object(ref)
            except Exception:  # noqa: S112 - absent before signing: not a swapped field
                continue
            if not (isinstance(before, generic.DictionaryObject)
                    and isinstance(after, generic.DictionaryObject)):
                continue
            if "/AP" not in before or _plain(before.raw_get("/AP")) == _plain(after.get("/AP")):
                continue
            field_before = _field_of(before)
            field_after = _field_of(after)
            if field_before is None or field_after is None \
                    or field_before.get("/FT") == "/Sig" or field_after.get("/FT") == "/Sig":
                continue
            if _plain(field_before.get("/V")) == _plain(field_after.get("/V")):
                swapped.append(str(field_after.get("/T", f"object {ref.idnum}")))
    return swapped


def _field_of(widget: generic.DictionaryObject) -> generic.DictionaryObject | None:
    """The field dictionary of a widget (itself when merged), or None when it is none."""
    if "/FT" in widget or "/T" in widget:
        return widget
    parent = widget.get("/Parent")
    return parent if isinstance(parent, generic.DictionaryObject) else None


def _plain(value: Any, depth: int = 0) -> Any:
    """A comparable form of a PDF value: references stay references, a few levels deep."""
    if isinstance(value, generic.IndirectObject):
        return ("ref", value.idnum, value.generation)
    if depth > 4:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(value.raw_get(k) if isinstance(value, generic.DictionaryObject)
                                else v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    return value


async def _check_all_signature_timestamps(emb: EmbeddedPdfSignature,
                                          context: ValidationContext) -> Reason | None:
    """pyHanko reports one signature timestamp; every one of several must hold."""
    tokens = list(extract_tst_data_iter(emb.signer_info, signed=False))
    if len(tokens) < 2:
        return None
    for number, token in enumerate(tokens, start=1):
        kwargs = await validate_tst_signed_data(token, context,
                                                message_imprint_checker(emb.signer_info))
        if not (kwargs["intact"] and kwargs["valid"]):
            return Reason(AdESFailure.HASH_FAILURE.name, (
                f"signature timestamp {number} of {len(tokens)} does not match this "
                "signature or does not verify"))
    return None


def _judge_tst(what: str, tst: TimestampSignatureStatus | None, failures: list[Reason],
               doubts: list[Reason]) -> None:
    if tst is None:
        return
    if not tst.intact:
        failures.append(Reason(AdESFailure.HASH_FAILURE.name,
                               f"the {what} does not match the signature it claims to time"))
    elif not tst.valid:
        failures.append(Reason(AdESFailure.SIG_CRYPTO_FAILURE.name,
                               f"the {what} token's signature does not verify"))
    elif not tst.trusted:
        indic = tst.trust_problem_indic or AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND
        doubts.append(Reason(indic.standard_name,
                             f"the {what} authority is not trusted ({indic.standard_name})"))


def _judge_trust(status: PdfSignatureStatus | DocumentTimestampStatus, ts_time: datetime | None,
                 failures: list[Reason], doubts: list[Reason]) -> None:
    if status.trusted:
        return
    indic = status.trust_problem_indic
    details = status.revocation_details
    if details is not None:
        revoked_before_timestamp = ts_time is None or details.revocation_date <= ts_time
        who = "a CA certificate in the chain" if details.ca_revoked else "the signer's certificate"
        if revoked_before_timestamp:
            failures.append(Reason(AdESFailure.REVOKED.name, (
                f"{who} was revoked on {details.revocation_date.isoformat()} and no "
                "timestamp proves the signature existed before")))
        else:
            code = (AdESIndeterminate.REVOKED_CA_NO_POE if details.ca_revoked
                    else AdESIndeterminate.REVOKED_NO_POE).name
            doubts.append(Reason(code, (
                f"{who} was revoked on {details.revocation_date.isoformat()}, after the "
                "signature timestamp")))
        return
    if not (status.intact and status.valid):
        return
    if indic is None:
        indic = AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND
    if indic in (AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE,
                 AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE):
        message = (f"the algorithms used ({status.md_algorithm}, "
                   f"{status.pkcs7_signature_mechanism}) are not allowed")
    elif indic is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        message = "no chain from the signer's certificate to a trusted root"
    else:
        message = f"the signer's certificate cannot be trusted ({indic.standard_name})"
    if indic.status is AdESStatus.FAILED:
        failures.append(Reason(indic.standard_name, message))
    else:
        doubts.append(Reason(indic.standard_name, message))


def _authority(emb: EmbeddedPdfSignature) -> str | None:
    reason = emb.sig_object.get("/Reason")
    if not isinstance(reason, str):
        return None
    match = _AUTHORITY.match(reason)
    return f"{match.group(1)}." if match else None


def _revocation(status: PdfSignatureStatus | DocumentTimestampStatus, revinfo: _RevInfo,
                own: _RevInfo) -> str:
    if status.revoked:
        return "revoked"
    if not status.trusted:
        return "unknown"
    cert = status.signing_cert
    serial = cert.serial_number
    for response in revinfo.ocsps + own.ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                if single["cert_id"]["serial_number"].native == serial and \
                        single["cert_status"].name == "good":
                    return "good"
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    for crl in revinfo.crls + own.crls:
        try:
            if crl.issuer == cert.issuer:
                return "good"
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    return "unknown"


def _pades_level(emb: EmbeddedPdfSignature, ts_time: datetime | None, revinfo: _RevInfo,
                 own: _RevInfo, timestamp_revisions: list[int]) -> str | None:
    if emb.sig_object.get("/SubFilter") != _PADES_SUBFILTER:
        return None
    signed_attrs = emb.signer_info["signed_attrs"]
    if not signed_attrs:
        return None
    if not any(next(find_cms_attribute_iter(signed_attrs, attr), None) is not None
               for attr in ("signing_certificate_v2", "signing_certificate")):
        return None
    if ts_time is None:
        return "B-B"
    if not (revinfo.ocsps or revinfo.crls or own.ocsps or own.crls):
        return "B-T"
    if any(rev > emb.signed_revision for rev in timestamp_revisions):
        return "B-LTA"
    return "B-LT"


logging.getLogger("pyhanko").setLevel(logging.ERROR)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
