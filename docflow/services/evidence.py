"""Signed outputs from the trail and the registers (issue 5): an auditor's evidence pack for
one document, and the statutory registers and processing reports of a unit for a period.
Each is drawn by the `StatementRenderer` and signed with the organisation's own signature
(the seal the server holds for the unit), so that a copy handed over proves where it came from.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.documents import CATALOGUE
from docflow.domain.errors import Invalid, NotFound
from docflow.domain.org import Actor, Role
from docflow.domain.signatures import SignatureKind
from docflow.services.audit import AuditService, Selection, auditor_scope
from docflow.services.ports import (
    BlobStore,
    Clock,
    EvidenceContent,
    RegisterContent,
    SealKeys,
    SignatureRequest,
    SignatureValidator,
    StatementRenderer,
    UnitOfWorkFactory,
)
from docflow.services.queries import ReadModel, RegisterFilter

STATUS_NAMES = {"delivered": "chưa vào sổ", "registered": "đã vào sổ",
                "assigned": "đã giao xử lý", "processing": "đang xử lý",
                "done": "đã giải quyết", "returned": "đã trả lại"}


class Statement(StrEnum):
    """The statutory outputs of a unit for a period (Decree 30, Appendix VI)."""

    OUTGOING_REGISTER = "outgoing-register"
    INCOMING_REGISTER = "incoming-register"
    OUTGOING_REPORT = "outgoing-report"
    INCOMING_REPORT = "incoming-report"


TITLES = {Statement.OUTGOING_REGISTER: "SỔ ĐĂNG KÝ VĂN BẢN ĐI",
          Statement.INCOMING_REGISTER: "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN",
          Statement.OUTGOING_REPORT: "BÁO CÁO TÌNH HÌNH PHÁT HÀNH VĂN BẢN ĐI",
          Statement.INCOMING_REPORT: "BÁO CÁO TÌNH HÌNH XỬ LÝ VĂN BẢN ĐẾN"}


class EvidenceService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, timezone: str, blobs: BlobStore,
                 validator: SignatureValidator, seals: SealKeys, renderer: StatementRenderer,
                 audit: AuditService, reads: ReadModel) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        self._blobs = blobs
        self._validator = validator
        self._seals = seals
        self._renderer = renderer
        self._audit = audit
        self._reads = reads

    def _local(self, at: datetime) -> str:
        return at.astimezone(self._zone).strftime("%d/%m/%Y %H:%M")

    def _seal(self, unit_code: str, pdf: bytes, label: str) -> bytes:
        """The organisation's signature on a file it hands out (Conflict when the server holds
        no seal for the unit)."""
        with self._seals.open(unit_code) as key:
            return key.sign(pdf, SignatureRequest(kind=SignatureKind.ATTACHMENT,
                                                  signed_at=self._clock.now(),
                                                  number_symbol=label)).pdf

    # --- evidence pack ---------------------------------------------------------------------

    def evidence_pack(self, actor: Actor, document_id: str, origin: Origin) -> bytes:
        """One document for an auditor: its particulars, the validation of its signatures,
        its whole trail and the proof of each event in the signed log; the file and the audit
        bundle embedded; signed with the seal of the auditor's unit."""
        scope = auditor_scope(actor)
        bundle = self._audit.export(Selection(document_id=document_id), actor=actor,
                                    origin=origin)
        now = self._clock.now()
        auditing = actor.auditing()[0]
        with self._uow() as uow:
            document = uow.documents.get(document_id)
            if document is None:
                raise NotFound("no such document in your units")
            units = uow.units.get_many([document.unit_code, auditing.unit_code])
            names = {i: u.username for i in {r["actor_id"] for r in bundle.records
                                              if r.get("actor_id")}
                     if (u := uow.users.get(i)) is not None}
            uow.audit.append(AuditEvent(
                at=now, action=Action.AUDIT_EVIDENCE, object_type="document",
                object_id=document.id, actor_id=actor.id, unit_code=auditing.unit_code,
                document_id=document.id, origin=origin, authority=Role.AUDITOR.value,
                details={"events": len(bundle.records), "tree_size": bundle.head.tree_size,
                         "scope": list(scope)}))
            uow.commit()
        main = document.main_revision()
        attachments: list[tuple[str, bytes]] = []
        verdict, signatures = "không có tệp chính", []
        if main is not None:
            with self._blobs.open(main.sha256) as stream:
                data = stream.read()
            attachments.append((main.filename, data))
            verdict, report = self._validator.validate(data)
            found = report.get("signatures")
            signatures = [f"{s.get('field')}: {s.get('verdict')}, {s.get('signer')}, "
                          f"ký lúc {s.get('signing_time')}"
                          for s in (found if isinstance(found, list) else [])]
        packed = BytesIO()
        bundle.write(packed)
        attachments.append(("audit-bundle.zip", packed.getvalue()))
        issuer = units.get(document.unit_code)
        head = bundle.head
        content = EvidenceContent(
            title="HỒ SƠ CHỨNG CỨ VỀ VĂN BẢN",
            organisation=units[auditing.unit_code].name.upper(),
            generated_at=self._local(now), generated_by=actor.user.full_name,
            particulars=[
                ("Cơ quan ban hành", issuer.name if issuer else document.unit_code),
                ("Loại văn bản", CATALOGUE[document.doc_type].name),
                ("Số, ký hiệu", document.symbol or "(chưa cấp số)"),
                ("Ngày ban hành", self._local(document.issued_at) if document.issued_at
                 else "(chưa ban hành)"),
                ("Trích yếu", document.abstract), ("Trạng thái", document.status.value),
                ("Mã định danh", document.identifier or ""),
                ("Tệp chính", f"{main.filename}, SHA-256 {main.sha256}" if main else ""),
                ("Mã văn bản trong docflow", document.id)],
            validation_verdict=verdict, signatures=signatures,
            tree_head=[("Số lá", f"{head.tree_size:,}"), ("Gốc (SHA-256)", head.root.hex()),
                       ("Thời điểm ký", self._local(datetime.fromtimestamp(
                           head.timestamp / 1000, tz=self._zone))),
                       ("Khóa của nhật ký", head.key_id.hex()),
                       ("Chữ ký (Ed25519)", head.signature.hex())],
            events=[_event_row(r, names) for r in bundle.records],
            proofs=[(leaf, [p.hex() for p in path])
                    for leaf, path in sorted(bundle.inclusion.items())],
            attachments=attachments)
        pdf = self._renderer.evidence_pack(content)
        return self._seal(auditing.unit_code, pdf,
                          f"Hồ sơ chứng cứ {document.symbol or document.id[:8]}")

    # --- statutory registers and reports ---------------------------------------------------

    def statement(self, actor: Actor, kind: Statement, unit_code: str, from_date: date,
                  to_date: date, origin: Origin) -> bytes:
        """A unit's register or processing report for the period (both days included), as a
        signed PDF: for its clerks and leaders, and auditors above it."""
        if to_date < from_date:
            raise Invalid("the period ends before it starts")
        now = self._clock.now()
        with self._uow() as uow:
            unit = uow.units.get(unit_code)
            if unit is None:
                raise NotFound.fmt("no unit '%(unit)s'", {"unit": unit_code})
            roles = actor.roles_in(unit_code)
            if not ({Role.CLERK.value, Role.LEADER.value} & roles or actor.audits(unit.path)):
                raise NotFound.fmt("no unit '%(unit)s' among yours", {"unit": unit_code})
            uow.audit.append(AuditEvent(
                at=now, action=Action.AUDIT_STATEMENT, object_type="unit", object_id=unit_code,
                actor_id=actor.id, unit_code=unit_code, document_id=None, origin=origin,
                details={"statement": kind.value, "from": from_date.isoformat(),
                         "to": to_date.isoformat()},
                # Someone with no role there passed the check above as its auditor.
                authority=actor.capacity_in(unit_code) or Role.AUDITOR.value))
            uow.commit()
        search = RegisterFilter(from_date=from_date, to_date=to_date)
        period = f"Từ ngày {from_date:%d/%m/%Y} đến ngày {to_date:%d/%m/%Y}"
        columns, widths, rows, summary = self._statement_body(kind, unit_code, search)
        content = RegisterContent(
            title=TITLES[kind], organisation=unit.name.upper(), period=period,
            summary=summary, columns=columns, widths=widths, rows=rows,
            generated_at=self._local(now), generated_by=actor.user.full_name)
        pdf = self._renderer.register(content)
        return self._seal(unit_code, pdf, f"{TITLES[kind].capitalize()} {from_date:%d/%m/%Y}"
                                          f"-{to_date:%d/%m/%Y}")

    def _outgoing(self, unit_code: str, search: RegisterFilter) -> list[Any]:
        return _every(lambda before: self._reads.outgoing_register(
            [unit_code], search, self._zone.key, 500, before),
            lambda e: f"{e.issued_at.isoformat()}|{e.document_id}")

    def _incoming(self, unit_code: str, search: RegisterFilter) -> list[Any]:
        return _every(lambda before: self._reads.incoming_register(
            [unit_code], search, self._zone.key, 500, before),
            lambda e: f"{e.registered_at.isoformat()}|{e.receipt_id}")

    def _statement_body(self, kind: Statement, unit_code: str, search: RegisterFilter
                        ) -> tuple[list[str], list[float], list[list[str]], list[str]]:
        day = "%d/%m/%Y"
        if kind in (Statement.OUTGOING_REGISTER, Statement.OUTGOING_REPORT):
            issued = self._outgoing(unit_code, search)
            by_type = Counter(CATALOGUE[e.doc_type].name for e in issued)
            summary = [f"Tổng số văn bản đi: {len(issued)}"] + [
                f"{name}: {count}" for name, count in sorted(by_type.items())]
            if kind is Statement.OUTGOING_REGISTER:
                return (["Số", "Ký hiệu", "Ngày tháng", "Tên loại và trích yếu nội dung",
                         "Ghi chú"], [18, 50, 26, 140, 30],
                        [[str(e.number), e.symbol, e.issued_at.astimezone(self._zone)
                          .strftime(day), f"{CATALOGUE[e.doc_type].name}: {e.abstract}", ""]
                         for e in issued], summary)
            rows = []
            for e in issued:
                counts = self._reads.status_counts(e.document_id)
                sent = sum(counts.values())
                done = counts.get("done", 0)
                rows.append([e.symbol, e.issued_at.astimezone(self._zone).strftime(day),
                             e.abstract, str(sent), str(sent - counts.get("delivered", 0)),
                             str(done)])
            return (["Số, ký hiệu", "Ngày", "Trích yếu", "Nơi nhận", "Đã vào sổ",
                     "Đã giải quyết"], [45, 24, 126, 22, 24, 24], rows, summary)
        entries = self._incoming(unit_code, search)
        by_status = Counter(e.status for e in entries)
        summary = [f"Tổng số văn bản đến đã vào sổ: {len(entries)}"] + [
            f"{STATUS_NAMES.get(s, s).capitalize()}: {n}" for s, n in sorted(by_status.items())]
        if kind is Statement.INCOMING_REGISTER:
            return (["Số đến", "Ngày đến", "Tác giả", "Số, ký hiệu", "Tên loại và trích yếu",
                     "Ghi chú"], [16, 22, 55, 38, 110, 24],
                    [[str(e.arrival_number), e.registered_at.astimezone(self._zone)
                      .strftime(day), e.issuer_name, e.symbol or "",
                      f"{CATALOGUE[e.doc_type].name}: {e.abstract}", ""] for e in entries],
                    summary)
        return (["Số đến", "Ngày đến", "Tác giả", "Số, ký hiệu", "Trích yếu", "Tình trạng"],
                [16, 22, 50, 38, 105, 34],
                [[str(e.arrival_number), e.registered_at.astimezone(self._zone).strftime(day),
                  e.issuer_name, e.symbol or "", e.abstract, STATUS_NAMES.get(e.status,
                                                                              e.status)]
                 for e in entries], summary)


def _every(page: Callable[[str | None], list[Any]], cursor: Callable[[Any], str]
           ) -> list[Any]:
    """Every entry of a register for the period, oldest first, as a register is kept (the
    read model pages newest first, 500 at a time)."""
    found: list[Any] = []
    before = None
    while True:
        rows = page(before)
        found += rows
        if len(rows) < 500:
            return found[::-1]
        before = cursor(rows[-1])


def _event_row(record: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    if record.get("redacted"):
        return {"seq": str(record["seq"]), "leaf": str(record["leaf"]),
                "at": "", "action": "(ngoài phạm vi)", "actor": "", "unit_code": "",
                "details": f"băm {record['hash']}"}
    return {"seq": str(record["seq"]), "leaf": str(record["leaf"]),
            "at": record["at"].replace("T", " ")[:19], "action": record["action"],
            "actor": names.get(record["actor_id"] or "", record["actor_id"] or ""),
            "unit_code": record["unit_code"] or "",
            "details": json.dumps(record["details"], ensure_ascii=False, sort_keys=True)[:400]}
