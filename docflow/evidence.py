"""Evidence packs and statutory registers as PDF (ReportLab, DejaVu Serif for Vietnamese):
the `StatementRenderer` port. The service seals what this draws.

An evidence pack carries the document's own file and the audit bundle as embedded files, so
the document's signatures and the trail's proofs stay checkable (putting the document's pages
into the pack would end its signatures); the pages drawn here are the readable account.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from pypdf import PdfReader, PdfWriter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from docflow.compilation import report_fonts
from docflow.services.ports import EvidenceContent, RegisterContent


def _escape(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Styles:
    def __init__(self) -> None:
        regular, bold = report_fonts()
        self.text = ParagraphStyle("t", fontName=regular, fontSize=8.5, leading=10.5)
        self.small = ParagraphStyle("s", parent=self.text, fontSize=6.5, leading=8)
        self.strong = ParagraphStyle("b", parent=self.text, fontName=bold)
        self.title = ParagraphStyle("h", parent=self.strong, fontSize=13, leading=16,
                                    alignment=1)
        self.heading = ParagraphStyle("h2", parent=self.strong, fontSize=10.5, leading=13,
                                      spaceBefore=6, spaceAfter=3)

    def p(self, value: object, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(_escape(value), style or self.text)


def _table(rows: list[list[Any]], widths: Sequence[float], header: bool = True) -> Table:
    table = Table(rows, repeatRows=1 if header else 0, colWidths=list(widths))
    style: list[Any] = [("GRID", (0, 0), (-1, -1), 0.4, colors.black),
                        ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")))
    table.setStyle(TableStyle(style))
    return table


def _build(story: list[Flowable], title: str, *, wide: bool) -> bytes:
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=landscape(A4) if wide else A4, title=title,
                      author="docflow", leftMargin=14 * mm, rightMargin=14 * mm,
                      topMargin=30 * mm, bottomMargin=14 * mm).build(story)
    return out.getvalue()


class PdfStatements:
    """Implements the `StatementRenderer` port."""

    def evidence_pack(self, content: EvidenceContent) -> bytes:
        s = _Styles()
        story: list[Flowable] = [
            s.p(content.organisation, s.strong), Spacer(1, 2 * mm),
            s.p(content.title, s.title), Spacer(1, 3 * mm),
            s.p(f"Lập lúc {content.generated_at} bởi {content.generated_by}"),
            Spacer(1, 3 * mm), s.p("1. Văn bản", s.heading),
            _table([[s.p(k, s.strong), s.p(v)] for k, v in content.particulars],
                   [45 * mm, 135 * mm], header=False),
            s.p("2. Kiểm tra chữ ký số của tệp chính", s.heading),
            s.p(f"Kết luận: {content.validation_verdict}", s.strong)]
        for sig in content.signatures:
            story.append(s.p(f"• {sig}"))
        story += [s.p("3. Cây Merkle của nhật ký (RFC 9162)", s.heading),
                  _table([[s.p(k, s.strong), s.p(v)] for k, v in content.tree_head],
                         [45 * mm, 135 * mm], header=False),
                  PageBreak(), s.p("4. Nhật ký của văn bản", s.heading)]
        rows = [[s.p(h, s.strong) for h in ("TT", "Lá", "Thời điểm (UTC)", "Hành động",
                                             "Người", "Đơn vị", "Chi tiết")]]
        for e in content.events:
            rows.append([s.p(e["seq"]), s.p(e["leaf"]), s.p(e["at"]), s.p(e["action"]),
                         s.p(e["actor"]), s.p(e["unit_code"]),
                         s.p(e["details"], s.small)])
        story.append(_table(rows, [9 * mm, 12 * mm, 30 * mm, 28 * mm, 22 * mm, 18 * mm,
                                   63 * mm]))
        story += [PageBreak(), s.p("5. Chứng minh có mặt trong nhật ký", s.heading),
                  s.p("Mỗi sự kiện: số lá, rồi các băm của đường kiểm tra (hex), dẫn tới gốc "
                      "của đầu cây đã ký ở mục 3. Tệp đính kèm audit-bundle.zip kiểm được "
                      "bằng `docflow audit verify`.")]
        for leaf, path in content.proofs:
            story.append(s.p(f"lá {leaf}: " + " ".join(path), s.small))
        pdf = _build(story, content.title, wide=False)
        return _attach(pdf, content.attachments, content.title)

    def register(self, content: RegisterContent) -> bytes:
        s = _Styles()
        story: list[Flowable] = [s.p(content.organisation, s.strong), Spacer(1, 2 * mm),
                                 s.p(content.title, s.title), Spacer(1, 2 * mm),
                                 s.p(content.period, s.strong), Spacer(1, 2 * mm)]
        for line in content.summary:
            story.append(s.p(line))
        story.append(Spacer(1, 3 * mm))
        rows = [[s.p(h, s.strong) for h in content.columns]]
        rows += [[s.p(v) for v in row] for row in content.rows]
        story.append(_table(rows, [w * mm for w in content.widths]))
        if not content.rows:
            story.append(s.p("Không có văn bản nào trong kỳ."))
        story += [Spacer(1, 3 * mm),
                  s.p(f"Lập lúc {content.generated_at} bởi {content.generated_by}", s.small)]
        return _build(story, content.title, wide=True)


def _attach(pdf: bytes, files: Sequence[tuple[str, bytes]], title: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for name, data in files:
        writer.add_attachment(name, data)
    writer.add_metadata({"/Title": title, "/Producer": "docflow"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

