"""The PDF rendering of a report, for people who print or file it (fpdf2: pure Python, no system fonts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fpdf import FPDF

from .data import Report, report_sha256
from .render import VERIFY_NOTE, meta_lines, missing_text, provenance, text

Colour = tuple[int, int, int]
DARK, GREY, RED = (20, 20, 20), (110, 110, 110), (160, 0, 0)


def _font(name: str) -> Path:
    """DejaVu from matplotlib's data (a dependency already): Unicode text without system fonts."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("matplotlib (which ships the DejaVu fonts used for PDF reports) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / name


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.add_font("dejavu", "", str(_font("DejaVuSans.ttf")))
        self.add_font("dejavu", "B", str(_font("DejaVuSans-Bold.ttf")))
        self.set_auto_page_break(True, margin=15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("dejavu", "", 7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text} · page {self.page_no()}", align="C")

    def para(self, content: str, size: float, *, bold: bool = False, colour: Colour = DARK, height: float = 0) -> None:
        self.set_font("dejavu", "B" if bold else "", size)
        self.set_text_color(*colour)
        self.multi_cell(0, height or size * 0.5, content, align="L", new_x="LMARGIN", new_y="NEXT")


def to_pdf(report: Report) -> bytes:
    digest = report_sha256(report)
    pdf = _Pdf(f"{report['title']} · sha256 {digest[:16]}…")
    pdf.set_title(report["title"])
    pdf.set_creator("Overt")
    pdf.add_page()
    pdf.para(report["title"], 16, bold=True, height=8)
    for key, value in meta_lines(report):
        pdf.para(f"{key}: {value}", 8)
    if report["missing"]:
        pdf.ln(2)
        missing = "Missing information (set in accountability.yaml): " + text(report["missing"])
        pdf.para(missing, 9, bold=True, colour=RED)
    for sec in report["sections"]:
        pdf.ln(3)
        pdf.para(sec["title"], 12, bold=True, height=7)
        previous = ""
        for item in sec["items"]:
            pdf.ln(1)
            if item["kind"] == "table" and not item["missing"]:
                pdf.para(item["label"], 9, bold=True)
                _pdf_table(pdf, item["value"])
            else:
                value = missing_text(item) if item["missing"] else text(item["value"])
                pdf.para(f"{item['label']}: {value}", 9, bold=item["missing"])
            repeated = item["query"] == previous
            pdf.para(provenance(item) + (" · query as above" if repeated and previous else ""), 6.5, colour=GREY)
            if item["query"] and not repeated:
                pdf.para(item["query"], 6, colour=GREY)
            previous = item["query"]
    pdf.ln(4)
    pdf.para(VERIFY_NOTE, 8, colour=GREY)
    return bytes(pdf.output())


def _pdf_table(pdf: FPDF, value: dict[str, Any]) -> None:
    pdf.set_font("dejavu", "", 7)
    pdf.set_text_color(*DARK)
    if not value["rows"]:
        pdf.multi_cell(0, 4, "none", align="L", new_x="LMARGIN", new_y="NEXT")
        return
    with pdf.table(text_align="LEFT", line_height=3.5, first_row_as_headings=True) as grid:
        for row in [value["columns"], *value["rows"]]:
            cells = grid.row()
            for cell in row:
                cells.cell(text(cell))
