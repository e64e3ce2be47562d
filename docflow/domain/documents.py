"""Documents with their Decree-30 metadata, revisions of their files, and symbols."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from docflow.domain.errors import Conflict, Invalid, Refused
from docflow.domain.org import CommitteeTerm
from docflow.domain.search import fold


@dataclass(frozen=True)
class DocumentType:
    """An entry of Appendix III: the name, and the abbreviation used in symbols (if any)."""

    key: str
    name: str
    abbreviation: str | None
    families: frozenset[str] = frozenset({"state", "party"})
    """Who issues this type: State bodies, Party committees, or both."""
    party_abbreviation: str | None = None
    """Where the Party's symbol differs (Guideline 36-HD/VPTW: Quy định is QĐi)."""

    def abbreviation_for(self, family: str) -> str | None:
        if family == "party" and self.party_abbreviation is not None:
            return self.party_abbreviation
        return self.abbreviation


# Decree 30/2020, Appendix III. Keys are the official abbreviations; công văn and thư công have
# none, so they get keys of their own and no abbreviation in the symbol.
CATALOGUE: dict[str, DocumentType] = {
    t.key: t
    for t in (
        DocumentType("NQ", "Nghị quyết", "NQ"),
        DocumentType("QĐ", "Quyết định", "QĐ"),
        DocumentType("CT", "Chỉ thị", "CT"),
        DocumentType("QC", "Quy chế", "QC"),
        DocumentType("QyĐ", "Quy định", "QyĐ", party_abbreviation="QĐi"),
        DocumentType("TC", "Thông cáo", "TC"),
        DocumentType("TB", "Thông báo", "TB"),
        DocumentType("HD", "Hướng dẫn", "HD"),
        DocumentType("CTr", "Chương trình", "CTr"),
        DocumentType("KH", "Kế hoạch", "KH"),
        DocumentType("PA", "Phương án", "PA"),
        DocumentType("ĐA", "Đề án", "ĐA"),
        DocumentType("DA", "Dự án", "DA"),
        DocumentType("BC", "Báo cáo", "BC"),
        DocumentType("BB", "Biên bản", "BB"),
        DocumentType("TTr", "Tờ trình", "TTr"),
        DocumentType("HĐ", "Hợp đồng", "HĐ"),
        DocumentType("CĐ", "Công điện", "CĐ"),
        DocumentType("BGN", "Bản ghi nhớ", "BGN"),
        DocumentType("BTT", "Bản thỏa thuận", "BTT"),
        DocumentType("GUQ", "Giấy ủy quyền", "GUQ"),
        DocumentType("GM", "Giấy mời", "GM"),
        DocumentType("GGT", "Giấy giới thiệu", "GGT"),
        DocumentType("GNP", "Giấy nghỉ phép", "GNP"),
        DocumentType("PG", "Phiếu gửi", "PG"),
        DocumentType("PC", "Phiếu chuyển", "PC"),
        DocumentType("PB", "Phiếu báo", "PB"),
        DocumentType("CV", "Công văn", None, party_abbreviation="CV"),
        DocumentType("THC", "Thư công", None),
        # Party only (Guideline 36-HD/VPTW; verify against the committee's own rules)
        DocumentType("KL", "Kết luận", "KL", frozenset({"party"})),
        DocumentType("TT", "Thông tri", "TT", frozenset({"party"})),
        DocumentType("QTr", "Quy trình", "QTr", frozenset({"party"})),
    )
}


class Urgency(StrEnum):
    """Độ khẩn."""

    NORMAL = "normal"
    URGENT = "khan"  # KHẨN
    VERY_URGENT = "thuong-khan"  # THƯỢNG KHẨN
    FLASH = "hoa-toc"  # HỎA TỐC

    @property
    def mark(self) -> str:
        """The mark as printed on the document (Decree 30, Appendix I)."""
        return {"normal": "", "khan": "KHẨN", "thuong-khan": "THƯỢNG KHẨN",
                "hoa-toc": "HỎA TỐC"}[self.value]


class Confidentiality(StrEnum):
    """Độ mật. Anything but NORMAL falls under the state-secret law."""

    NORMAL = "normal"
    SECRET = "mat"  # MẬT
    TOP_SECRET = "toi-mat"  # TỐI MẬT
    ABSOLUTE_SECRET = "tuyet-mat"  # TUYỆT MẬT


class DocumentStatus(StrEnum):
    """Positions of the ``outgoing`` workflow."""

    DRAFT = "draft"
    REVIEW = "review"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    SIGNED = "signed"
    NUMBERED = "numbered"
    ISSUED = "issued"
    DISPATCHED = "dispatched"
    EXTERNAL = "external"
    """Not one of ours: a document received from outside docflow (paper, e-mail, another
    system), kept so the unit's register and flow can hold it."""


class RevisionKind(StrEnum):
    MAIN = "main"
    ATTACHMENT = "attachment"


MAX_ABSTRACT = 2000


@dataclass(frozen=True)
class DraftSpec:
    """What an officer types when drafting: validated by `check_draft`."""

    doc_type: str
    abstract: str
    urgency: Urgency = Urgency.NORMAL
    confidentiality: Confidentiality = Confidentiality.NORMAL
    recipients: tuple[str, ...] = ()
    """Planned recipients (unit codes), the 'Nơi nhận' of the draft; dispatch may differ."""
    reply_due: date | None = None
    department: str | None = None
    """The drafting department's abbreviation (``VP``), for a công văn's symbol."""
    replaces: str | None = None
    """An issued document of the same unit this one supersedes once issued."""


DEPARTMENT = re.compile(r"[A-ZĐ0-9]{1,10}")


def check_draft(spec: DraftSpec, *, allow_classified: bool, today: date) -> DraftSpec:
    """Refuse what Decree 30 or the deployment does not allow; return the normalised spec."""
    if spec.confidentiality is not Confidentiality.NORMAL and not allow_classified:
        raise Refused(
            "classified documents (MẬT, TỐI MẬT, TUYỆT MẬT) fall under the state-secret law and "
            "are refused: this deployment is not an isolated classified system",
            confidentiality=spec.confidentiality.value,
        )
    errors = []
    if spec.doc_type not in CATALOGUE:
        errors.append(f"unknown document type '{spec.doc_type}'")
    abstract = " ".join(spec.abstract.split())
    if not abstract:
        errors.append("the abstract (trích yếu) is required")
    elif len(abstract) > MAX_ABSTRACT:
        errors.append(f"the abstract is longer than {MAX_ABSTRACT} characters")
    if spec.reply_due is not None and spec.reply_due < today:
        errors.append("the reply due date is in the past")
    department = (spec.department or "").strip().upper() or None
    if department is not None and not DEPARTMENT.fullmatch(department):
        errors.append("the department is an abbreviation of 1 to 10 capitals or digits (VP)")
    if errors:
        raise Invalid("the draft is not valid", errors=errors)
    return DraftSpec(
        doc_type=spec.doc_type,
        abstract=abstract,
        urgency=spec.urgency,
        confidentiality=spec.confidentiality,
        recipients=tuple(dict.fromkeys(spec.recipients)),
        reply_due=spec.reply_due,
        department=department,
        replaces=(spec.replaces or "").strip() or None,
    )


def format_symbol(number: int, doc_type: str, issuer_abbreviation: str, *,
                  family: str = "state", department: str | None = None) -> str:
    """The number and symbol. State (Decree 30, Appendix I): ``15/QĐ-BNV``, công văn
    ``05/BNV`` or, with the drafting department, ``05/BNV-VP``. Party: ``01-NQ/TU``, công
    văn ``05-CV/TU``. Numbers below 10 take a leading zero."""
    abbreviation = CATALOGUE[doc_type].abbreviation_for(family)
    if family == "party":
        return f"{number:02d}-{abbreviation or 'CV'}/{issuer_abbreviation}"
    if abbreviation is None:
        suffix = f"-{department}" if department else ""
        return f"{number:02d}/{issuer_abbreviation}{suffix}"
    return f"{number:02d}/{abbreviation}-{issuer_abbreviation}"


def number_register(family: str, doc_type: str, *, party_per_type: bool = True) -> str:
    """Which register (sequence) a number comes from: State bodies number every type in one
    outgoing register; Party committees, by Guideline 36, each type separately within a term
    (`party_per_type` False: one register per term, where a committee's rules say so)."""
    if family == "party" and party_per_type:
        return f"outgoing:{doc_type}"
    return "outgoing"


def number_period(family: str, on: date, terms: Sequence[CommitteeTerm]) -> str:
    """Which sequence an issue on `on` draws from: the calendar year (State), or the committee
    term covering the day (Party). Raises Conflict when a Party unit has no such term."""
    if family != "party":
        return str(on.year)
    covering = [t for t in terms if t.covers(on)]
    if not covering:
        raise Conflict.fmt("no committee term covers %(day)s: import the term (nhiệm kỳ) of "
                           "the committee before it issues", {"day": on.isoformat()})
    return covering[0].code


class Channel(StrEnum):
    """How a document reached the unit."""

    DOCFLOW = "docflow"
    PAPER = "paper"  # scanned by the clerk
    EMAIL = "email"
    SYSTEM = "system"  # another exchange system


@dataclass(frozen=True)
class ExternalSpec:
    """What a clerk types when registering a document that did not come through docflow."""

    doc_type: str
    abstract: str
    issuer_name: str
    issued_on: date
    channel: Channel
    symbol: str | None = None
    """The number and symbol as printed (``15/QĐ-BNV``); None for the few with none."""
    issuer_code: str | None = None
    """The issuer's identifier code (mã định danh), when known."""
    urgency: Urgency = Urgency.NORMAL
    confidentiality: Confidentiality = Confidentiality.NORMAL
    reply_due: date | None = None


SYMBOL_NUMBER = re.compile(r"^\s*(\d{1,7})\s*[-/]")
IDENTIFIER_CODE = re.compile(r"[0-9A-Za-z.]{1,13}")


def check_external(spec: ExternalSpec, *, allow_classified: bool, today: date) -> ExternalSpec:
    """Refuse an incomplete or impossible external entry; return it normalised."""
    errors = []
    try:
        check_draft(DraftSpec(spec.doc_type, spec.abstract, spec.urgency, spec.confidentiality),
                    allow_classified=allow_classified, today=today)
    except Invalid as exc:  # named together with the rest below
        errors.extend(exc.errors)
    issuer = " ".join(spec.issuer_name.split())
    if not issuer:
        errors.append("the issuer (cơ quan ban hành) is required")
    if spec.issued_on > today:
        errors.append("the issue date is in the future")
    symbol = " ".join((spec.symbol or "").split()) or None
    if symbol is not None and len(symbol) > 64:
        errors.append("the number and symbol are longer than 64 characters")
    code = (spec.issuer_code or "").strip() or None
    if code is not None and not IDENTIFIER_CODE.fullmatch(code):
        errors.append("the issuer's identifier code is up to 13 letters, digits and dots")
    if spec.channel is Channel.DOCFLOW:
        errors.append("documents sent through docflow arrive by themselves")
    if errors:
        raise Invalid("the incoming document is not valid", errors=errors)
    return ExternalSpec(
        doc_type=spec.doc_type, abstract=" ".join(spec.abstract.split()), issuer_name=issuer,
        issued_on=spec.issued_on, channel=spec.channel, symbol=symbol, issuer_code=code,
        urgency=spec.urgency, confidentiality=spec.confidentiality, reply_due=spec.reply_due)


def symbol_number(symbol: str | None) -> int | None:
    """The number at the head of a symbol (``15/QĐ-BNV`` → 15, Party ``01-NQ/TU`` → 1)."""
    found = SYMBOL_NUMBER.match(symbol or "")
    return int(found.group(1)) if found else None


def identifier(issuer_code: str, issued_on: date, symbol: str) -> str:
    """The cross-system identifier of edXML: ``OrganId,yyyy/MM/dd,Number/Notation``."""
    return f"{issuer_code},{issued_on:%Y/%m/%d},{symbol}"


@dataclass(frozen=True)
class DocumentUpdate:
    """A change to an issued document's particulars (edXML business type 2, update): what
    changed, why, by whom; the recipients see it."""

    id: str
    document_id: str
    at: datetime
    by: str
    reason: str
    changes: dict[str, list[str | None]]
    """Field → [before, after]."""


@dataclass
class Document:
    """An outgoing document, from draft to dispatch."""

    id: str
    unit_code: str
    """The drafting and issuing unit."""
    created_by: str
    created_at: datetime
    doc_type: str
    abstract: str
    urgency: Urgency
    confidentiality: Confidentiality
    recipients: tuple[str, ...]
    reply_due: date | None
    status: DocumentStatus = DocumentStatus.DRAFT
    workflow: str = "outgoing"
    """The definition the document runs: ``outgoing`` or an organisation's variant of it."""
    workflow_version: int = 1
    number: int | None = None
    symbol: str | None = None
    issued_at: datetime | None = None
    issued_year: int | None = None
    number_period: str | None = None
    """The sequence the number came from: a year, or a Party committee term."""
    number_register: str | None = None
    """… and the register: ``outgoing``, or per type for a Party committee."""
    department: str | None = None
    recalled_at: datetime | None = None
    recall_reason: str | None = None
    updated_at: datetime | None = None
    revisions: list[Revision] = field(default_factory=list)
    channel: Channel = Channel.DOCFLOW
    issuer_name: str | None = None
    """For an external document: its issuer as printed (docflow's own: the unit)."""
    issuer_code: str | None = None
    """For an external document: the issuer's identifier code, when known."""
    identifier: str | None = None
    """``OrganId,yyyy/MM/dd,Number/Notation`` once numbered (or as typed at intake)."""
    replaces_id: str | None = None
    replaced_by_id: str | None = None
    replaced_at: datetime | None = None

    @property
    def external(self) -> bool:
        return self.status is DocumentStatus.EXTERNAL

    @property
    def issuer_key(self) -> str:
        """Who issued it, as duplicate warnings compare: a unit's code for docflow's own,
        the identifier code or else the folded name of an external issuer."""
        if self.issuer_name is None:
            return self.unit_code
        return self.issuer_code or fold(self.issuer_name)

    @property
    def type_name(self) -> str:
        return CATALOGUE[self.doc_type].name

    def main_revision(self) -> Revision | None:
        """The newest revision of the main file."""
        mains = [r for r in self.revisions if r.kind is RevisionKind.MAIN]
        return max(mains, key=lambda r: r.seq) if mains else None


@dataclass(frozen=True)
class Revision:
    """One immutable version of one file of a document; the bytes live in the blob store."""

    id: str
    document_id: str
    kind: RevisionKind
    seq: int
    filename: str
    sha256: str
    size: int
    media_type: str
    page_count: int | None
    created_at: datetime
    created_by: str
    parent_id: str | None = None
    """The revision this one was derived from (by signing), if any."""
