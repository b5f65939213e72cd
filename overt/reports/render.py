"""One report, four forms: JSON and CSV for machines, HTML and PDF for people.

The JSON is the report: canonical JSON (sorted keys, no whitespace), so `sha256sum report.json` equals
the hash in its `report.generate` audit record. The other forms are renderings of it; each names that
hash so a printed page can be tied back to the JSON, the log and `overt report verify`.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from typing import Any

from ..audit.canonical import canonical_json
from .data import Item, Report, report_sha256

FORMATS = ("html", "pdf", "json", "csv")
MAX_RANGES = 30
KIND_NAMES = {
    "deployment": "Deployment record",
    "annual": "Annual report",
    "notification": "Notification to the supervisory authorities",
    "accountability": "Accountability report",
}


def render(report: Report, fmt: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report).encode()
    if fmt == "html":
        return to_html(report).encode()
    if fmt == "pdf":
        from .pdf import to_pdf  # fpdf2 takes 0.3 s to import: only when a PDF is asked for

        return to_pdf(report)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def to_json(report: Report) -> bytes:
    return canonical_json(report).encode()


# --- shared text helpers ------------------------------------------------------------------------------------


def seq_ranges(seqs: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"; long lists are cut (the JSON has them all)."""
    ranges: list[str] = []
    start = prev = None
    for seq in seqs:
        if prev is not None and seq == prev + 1:
            prev = seq
            continue
        if start is not None:
            ranges.append(f"{start}-{prev}" if prev != start else str(start))
        start = prev = seq
    if start is not None:
        ranges.append(f"{start}-{prev}" if prev != start else str(start))
    if len(ranges) > MAX_RANGES:
        return ", ".join(ranges[:MAX_RANGES]) + f", … ({len(seqs)} records in all; the JSON lists every one)"
    return ", ".join(ranges)


def text(value: Any) -> str:
    """A value as people read it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {text(v)}" for k, v in value.items()) or "none"
    return str(value)


def meta_lines(report: Report) -> list[tuple[str, str]]:
    audit = report["audit"]
    lines = [
        ("Report", KIND_NAMES.get(report["kind"], report["kind"])),
        ("Parameters", text(report["parameters"])),
        (
            "Generated",
            report["generated"]["at"] + (f" by {report['generated']['by']}" if "by" in report["generated"] else ""),
        ),
        (
            "Audit log at generation",
            f"records {audit['first_seq']}-{audit['last_seq']}, head hash {audit['head_hash']}",
        ),
        ("sha256 of the JSON", report_sha256(report)),
        ("Visibility", report["visibility"]),
    ]
    return lines


def missing_text(item: Item) -> str:
    return f"MISSING: set `{item['key']}` in accountability.yaml"


def provenance(item: Item) -> str:
    parts = [item["source"]]
    if item["method"]:
        parts.append(item["method"])
    if item["seqs"]:
        parts.append("audit seq " + seq_ranges(item["seqs"]))
    return " · ".join(parts)


VERIFY_NOTE = (
    "Every figure names the audit records (seq) and the query it was computed from. "
    "`overt report verify REPORT.json` recomputes the report from the audit log and the records and says "
    "whether it still matches."
)


# --- CSV --------------------------------------------------------------------------------------------------


def _flatten(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and set(value) == {"columns", "rows"}:
        for i, row in enumerate(value["rows"]):
            for column, cell in zip(value["columns"], row, strict=True):
                yield from _flatten(f"{key}[{i}].{column}", cell)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(f"{key}.{k}", v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _flatten(f"{key}[{i}]", v)
    else:
        yield key, value


def to_csv(report: Report) -> str:
    """One row per value: tables and lists flattened to `key[row].column`; provenance on every row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "label", "value", "source", "method", "seqs", "public", "missing", "query"])
    meta = {k: report[k] for k in ("format", "kind", "title", "parameters", "generated", "audit", "visibility")}
    for key, value in _flatten("report", {**meta, "sha256": report_sha256(report)}):
        writer.writerow(["report", key.removeprefix("report."), "", value, "", "", "", "", "", ""])
    for sec in report["sections"]:
        for item in sec["items"]:
            seqs = " ".join(map(str, item["seqs"]))
            for key, value in _flatten(item["key"], item["value"]):
                writer.writerow(
                    [
                        sec["key"],
                        key,
                        item["label"],
                        "" if value is None else value,
                        item["source"],
                        item["method"],
                        seqs,
                        item["public"],
                        item["missing"],
                        item["query"],
                    ]
                )
    return out.getvalue()


# --- HTML -------------------------------------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem;margin-bottom:.4rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:2px solid #333}
table{border-collapse:collapse;width:100%}table.items{table-layout:fixed}
td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;vertical-align:top;text-align:left;overflow-wrap:break-word}
.h,code{word-break:break-all}
th{background:#f3f3f3}th.item{width:22%}th.value{width:46%}
table.inner td,table.inner th{font-size:.85em;padding:.2rem .3rem}.meta th{width:14rem}
.src{font-size:.8em;color:#555}code{font-size:.85em}summary{cursor:pointer}
.missing{color:#a00;font-weight:600}.warn{border:2px solid #a00;padding:.5rem 1rem;margin:1rem 0}
.note{color:#555;font-size:.9em;margin-top:2rem}
"""


def _e(value: Any) -> str:
    return html.escape(text(value), quote=True)


def _html_cell(value: Any) -> str:
    """Long unbroken text (hashes) may break anywhere; words stay whole."""
    long_token = isinstance(value, str) and len(value) > 30 and " " not in value
    return f'<td class="h">{_e(value)}</td>' if long_token else f"<td>{_e(value)}</td>"


def _html_value(item: Item) -> str:
    if item["missing"]:
        return f'<span class="missing">{_e(missing_text(item))}</span>'
    value = item["value"]
    if item["kind"] == "table":
        head = "".join(f"<th>{_e(c)}</th>" for c in value["columns"])
        body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in value["rows"])
        return f'<table class="inner"><tr>{head}</tr>{body or "<tr><td>none</td></tr>"}</table>'
    if isinstance(value, str) and "\n" in value:
        return "<br>".join(html.escape(line) for line in value.splitlines())
    return f'<span class="h">{_e(value)}</span>' if isinstance(value, str) and " " not in value else _e(value)


def to_html(report: Report) -> str:
    """Self-contained (no scripts, fonts or images from elsewhere); every string escaped."""
    title = _e(report["title"])
    out = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>',
        f"<style>{CSS}</style></head><body><h1>{title}</h1>",
        '<table class="meta">',
        *(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in meta_lines(report)),
        "</table>",
    ]
    if report["missing"]:
        out.append(
            '<div class="warn"><strong>Missing information.</strong> These items could not be derived and are '
            "not set in accountability.yaml: " + _e(report["missing"]) + "</div>"
        )
    for sec in report["sections"]:
        out.append(f'<section id="{html.escape(sec["key"], quote=True)}"><h2>{_e(sec["title"])}</h2>')
        out.append(
            '<table class="items"><tr><th class="item">Item</th><th class="value">Value</th><th>Computed from</th></tr>'
        )
        for item in sec["items"]:
            query = (
                f"<details><summary>query</summary><code>{_e(item['query'])}</code></details>" if item["query"] else ""
            )
            out.append(
                f'<tr id="{html.escape(item["key"], quote=True)}"><td>{_e(item["label"])}</td>'
                f'<td>{_html_value(item)}</td><td class="src">{_e(provenance(item))}{query}</td></tr>'
            )
        out.append("</table></section>")
    out.append(f'<p class="note">{_e(VERIFY_NOTE)}</p></body></html>')
    return "\n".join(out)
