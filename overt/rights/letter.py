"""The letter a person receives in answer to their request: what was found or done, or why not.

HTML (self-contained, every string escaped) and PDF (fpdf2 with the reports' DejaVu fonts). It names
data by watchlist, category, date and place; it never includes an image or a template.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

KIND_TITLES = {
    "access": "access to your personal data (GDPR Art. 15)",
    "erasure": "erasure of your personal data (GDPR Art. 17)",
    "rectification": "rectification of your personal data (GDPR Art. 16)",
    "objection": "your objection to processing (GDPR Art. 21)",
}
COMPLAINT_NOTE = (
    "If you are not satisfied with this answer, you may lodge a complaint with the supervisory authority "
    "(GDPR Art. 77) or seek a judicial remedy (Art. 79)."
)


def _day(value: str | None) -> str:
    return value[:10] if value else "—"


def letter_blocks(view: dict[str, Any], at: datetime) -> list[tuple[str, list[str]]]:
    """The letter as headed blocks of lines, shared by both renderings."""
    blocks: list[tuple[str, list[str]]] = [
        (
            f"Your request for {KIND_TITLES[view['kind']]}",
            [
                f"To: {view['requester']}",
                f"Our reference: request {view['id']}, received {_day(view['opened'])} "
                f"({view['channel'] or 'channel not recorded'}); answer due by {_day(view['deadline'])}.",
                f"Date of this letter: {at:%Y-%m-%d}.",
            ],
        )
    ]
    if view["extension_reason"]:
        blocks.append(("Extension", [f"The time to answer was extended: {view['extension_reason']}."]))
    searched = view["searched"]
    if searched:
        blocks.append(
            (
                "What we searched",
                [
                    f"Every watchlist ({searched['watchlists']}) and the alerts and evidence still within their "
                    f"retention period ({searched['evidence']} images) on {_day(searched['at'])}, with the photo you "
                    "gave us. That photo and the template made from it are deleted when this request closes.",
                ],
            )
        )
    if view["outcome"] == "refused":
        blocks.append(
            (
                "Our decision: refused",
                [f"Reason: {view['reason']}", f"Legal ground: {view['legal_ground']}"],
            )
        )
        return [*blocks, ("Your rights", [COMPLAINT_NOTE])]
    found = view["found"]
    if view["outcome"] == "erased":
        deleted = view["deleted"]
        blocks.append(
            (
                "What we deleted",
                [
                    f"{deleted.get('subjects', 0)} watchlist entries with {deleted.get('templates', 0)} templates and "
                    f"{deleted.get('photos', 0)} reference photos; {deleted.get('alerts', 0)} alerts with "
                    f"{deleted.get('evidence', 0)} evidence images and {deleted.get('reviews', 0)} reviews.",
                    *(f"Watchlist {f['watchlist']} ({f['category'] or 'no category'})" for f in found),
                    "Our audit log records that this was deleted (as numbers and identifiers), not the data.",
                ],
            )
        )
    elif searched:
        blocks.append(
            (
                "Watchlists on which your face was found",
                [
                    f"{f['watchlist']}: entry {f['subject']} ({f['category'] or 'no category'}), added "
                    f"{_day(f['added'])}, kept until {_day(f['expires']) if f['expires'] else 'removed'}; "
                    f"legal basis: {f['legal_basis'] or 'not recorded'}"
                    for f in found
                ]
                or ["None: your face is on no watchlist."],
            )
        )
        blocks.append(
            (
                "Alerts concerning you",
                [
                    f"{_day(a['time'])} {a['time'][11:16]} UTC at {a['place'] or 'a still image search'} "
                    f"(deployment {a['deployment']} {a['deployment_name']}): {a['status']}"
                    + (f", outcome: {a['outcome']}" if a["outcome"] else "")
                    + f"; kept until {_day(a['expires'])}"
                    for a in view["alerts"]
                ]
                or ["None within the retention period."],
            )
        )
    if view["outcome"] == "granted":
        blocks.append(("Our decision: granted", [f"{view['reason']}"]))
    if view["note"]:
        blocks.append(("Note", [view["note"]]))
    return [*blocks, ("Your rights", [COMPLAINT_NOTE])]


def to_html(blocks: list[tuple[str, list[str]]]) -> str:
    e = html.escape
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Answer to your request</title>',
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem}</style></head><body>",
    ]
    for number, (title, lines) in enumerate(blocks):
        out.append(f"<h1>{e(title)}</h1>" if number == 0 else f"<h2>{e(title)}</h2>")
        out += [f"<p>{e(line)}</p>" for line in lines]
    out.append("</body></html>")
    return "\n".join(out)


def to_pdf(blocks: list[tuple[str, list[str]]], footer: str) -> bytes:
    from ..reports.pdf import _Pdf  # fpdf2 takes 0.3 s to import: only when a PDF is asked for

    pdf = _Pdf(footer)
    pdf.set_title(blocks[0][0])
    pdf.set_creator("Overt")
    pdf.add_page()
    for number, (title, lines) in enumerate(blocks):
        pdf.ln(0 if number == 0 else 3)
        pdf.para(title, 14 if number == 0 else 11, bold=True, height=7)
        for line in lines:
            pdf.para(line, 10)
    return bytes(pdf.output())


def render_letter(view: dict[str, Any], fmt: str, at: datetime) -> bytes:
    blocks = letter_blocks(view, at)
    if fmt == "html":
        return to_html(blocks).encode()
    if fmt == "pdf":
        return to_pdf(blocks, f"Answer to request {view['id']}")
    raise ValueError(f"unknown letter format {fmt!r}: html or pdf")
