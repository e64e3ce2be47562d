"""Compiled reports: a summary table (ReportLab, in a TrueType font with every Vietnamese
letter) followed by each unit's report (pypdf), one bookmark per unit.

The compilation is a reading copy: putting pages into one file ends their signatures, so the
summary says where the signed originals are (each submission's document in docflow).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from docflow.services.ports import CompiledPart, SummaryRow

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD = FONT_DIR / "DejaVuSerif.ttf", FONT_DIR / "DejaVuSerif-Bold.ttf"


def report_fonts() -> tuple[str, str]:
    """The serif (regular, bold) registered with ReportLab, with every Vietnamese letter."""
    if "DocflowSerif" not in pdfmetrics.getRegisteredFontNames():
        for name, path in (("DocflowSerif", REGULAR), ("DocflowSerif-Bold", BOLD)):
            if not path.is_file():
                raise RuntimeError(f"the report font {path} is missing (Debian package "
                                   f"fonts-dejavu-core)")
            pdfmetrics.registerFont(TTFont(name, str(path)))
    return "DocflowSerif", "DocflowSerif-Bold"


class PdfCompiler:
    """Implements the `ReportCompiler` port."""

    def compile(self, title: str, heading: Sequence[str], rows: Sequence[SummaryRow],
                parts: Sequence[CompiledPart]) -> bytes:
        regular, bold = report_fonts()
        text = ParagraphStyle("t", fontName=regular, fontSize=9, leading=11)
        strong = ParagraphStyle("b", parent=text, fontName=bold)
        big = ParagraphStyle("h", parent=strong, fontSize=13, leading=16, alignment=1)
        story: list[object] = [Paragraph(title, big), Spacer(1, 3 * mm)]
        story += [Paragraph(line, text) for line in heading]
        story.append(Spacer(1, 4 * mm))
        header = ["TT", "Đơn vị", "Tình trạng", "Số, ký hiệu", "Ngày gửi", "Trích yếu"]
        data = [[Paragraph(h, strong) for h in header]]
        for n, row in enumerate(rows, start=1):
            data.append([Paragraph(str(n), text), Paragraph(row.unit, text),
                         Paragraph(row.state, text), Paragraph(row.symbol or "", text),
                         Paragraph(row.submitted_on or "", text),
                         Paragraph(row.abstract or "", text)])
        table = Table(data, repeatRows=1, colWidths=[10 * mm, 55 * mm, 30 * mm, 38 * mm,
                                                     24 * mm, 110 * mm])
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        story.append(table)
        summary = io.BytesIO()
        SimpleDocTemplate(summary, pagesize=landscape(A4), title=title,
                          leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                          bottomMargin=12 * mm).build(story)  # type: ignore[arg-type]
        writer = PdfWriter()
        writer.append(PdfReader(io.BytesIO(summary.getvalue())), outline_item="Tổng hợp")
        for part in parts:
            writer.append(PdfReader(io.BytesIO(part.pdf)), outline_item=part.label)
        writer.add_metadata({"/Title": title, "/Producer": "docflow"})
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()
