"""Does a report still match the audit log and the records it was computed from?

Three checks: the log still holds, at the report's `last_seq`, the head hash the report names (the
history it was computed over was not rewritten); a `report.generate` record carries the report's
sha256 (it is byte for byte what Overt produced; public views are not recorded, so they skip this);
and recomputing the report over the same records gives the same items. Audit figures cannot
legitimately change; figures from tables, the calibration or the config can, and the differences
say so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from .data import FORMAT, Item, Report, Sources, report_sha256

# Each kind of report and the parameters it is generated from.
PARAMETERS = {
    "deployment": {"deployment_id"},
    "notification": {"deployment_id"},
    "annual": {"from", "to"},
    "accountability": set(),
}
COMPARED_FIELDS = ("kind", "label", "value", "seqs", "source", "method", "public", "public_columns", "missing")
CHANGEABLE = {
    "records": "a table, which may have changed since the report was generated",
    "audit+records": "the audit log and a table, which may have changed since the report was generated",
    "calibration": "the calibration file, which may have been replaced since",
    "config": "accountability.yaml, which may have been edited since",
    "system": "the installed software, which may have been upgraded since",
}


class ReportFormatError(ValueError):
    """The file is not an Overt report."""


@dataclass(frozen=True)
class Verification:
    """The verdict: `ok` only when the log, the recorded hash (internal reports) and every item agree."""

    ok: bool
    kind: str
    sha256: str
    generated_seq: int | None
    log_matches: bool
    differences: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse(data: Any) -> Report:
    """The minimum shape verification relies on, checked before anything is recomputed."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReportFormatError(f"not an Overt report (expected format {FORMAT!r})")
    for key in ("kind", "parameters", "generated", "audit", "visibility", "sections"):
        if key not in data:
            raise ReportFormatError(f"the report has no {key!r}")
    if not isinstance(data["audit"], dict) or not isinstance(data["audit"].get("last_seq"), int):
        raise ReportFormatError("the report's audit range is malformed")
    kind, parameters = data["kind"], data["parameters"]
    if kind not in PARAMETERS or not isinstance(parameters, dict) or set(parameters) != PARAMETERS[kind]:
        raise ReportFormatError(f"unknown report kind {kind!r} or parameters {parameters!r}")
    try:
        if "deployment_id" in parameters and not isinstance(parameters["deployment_id"], int):
            raise ValueError("deployment_id is not a number")
        for key in ("from", "to"):
            if key in parameters:
                date.fromisoformat(parameters[key])
    except (TypeError, ValueError) as exc:
        raise ReportFormatError(f"the report's parameters are malformed: {exc}") from None
    return data


def _short(value: Any) -> str:
    out = json.dumps(value, ensure_ascii=False, default=str)
    return out if len(out) <= 200 else out[:197] + "..."


def _item_differences(where: str, given: Item, again: Item, last_seq: int) -> list[str]:
    out = []
    for field in COMPARED_FIELDS:
        a, b = given.get(field), again.get(field)
        if a == b:
            continue
        if field == "seqs" and isinstance(a, list) and isinstance(b, list):
            detail = (
                f"audit records only in the report {sorted(set(a) - set(b))[:20]}, "
                f"only recomputed {sorted(set(b) - set(a))[:20]}"
            )
        else:
            detail = f"the report says {_short(a)}, recomputed {_short(b)}"
        source = again.get("source", "")
        why = CHANGEABLE.get(source, f"the audit log up to record {last_seq}, which cannot legitimately change")
        out.append(f"{where}: {field}: {detail} (computed from {why})")
    return out


def compare(given: Report, again: Report) -> list[str]:
    """Every difference, named by section and item, with where the recomputed value came from."""
    out = [
        f"{key}: the report says {_short(given.get(key))}, recomputed {_short(again.get(key))}"
        for key in ("kind", "title", "parameters", "visibility", "missing")
        if given.get(key) != again.get(key)
    ]
    last_seq = given["audit"]["last_seq"]
    sections = {s["key"]: s for s in again["sections"]}
    given_sections = {s.get("key"): s for s in given["sections"] if isinstance(s, dict)}
    for key in sorted(set(given_sections) - set(sections), key=str):
        out.append(f"section {key!r} is in the report but not in the recomputation")
    for key, section in sections.items():
        mine = given_sections.get(key)
        if mine is None:
            out.append(f"section {key!r} ({section['title']}) is missing from the report")
            continue
        if mine.get("title") != section["title"]:
            out.append(f"section {key!r}: title {_short(mine.get('title'))}, recomputed {_short(section['title'])}")
        items = {i["key"]: i for i in section["items"]}
        given_items = {i.get("key"): i for i in mine.get("items", []) if isinstance(i, dict)}
        for item_key in sorted(set(given_items) - set(items), key=str):
            out.append(f"{section['title']} › {item_key}: in the report but not in the recomputation")
        for item_key, item in items.items():
            where = f"{section['title']} › {item['label']} [{item_key}]"
            if item_key not in given_items:
                out.append(f"{where}: missing from the report")
            else:
                out.extend(_item_differences(where, given_items[item_key], item, last_seq))
    return out


def check(given: Report, again: Report, sources: Sources, generated: dict[str, int]) -> Verification:
    """`again`: the report recomputed over `sources` (bounded at the report's last_seq); `generated`:
    sha256 -> seq of every `report.generate` record in the log."""
    digest = report_sha256(given)
    claimed = given["audit"]
    now = sources.range()
    differences = []
    log_matches = now["head_hash"] is not None and now["head_hash"] == claimed.get("head_hash")
    if not log_matches:
        differences.append(
            f"the audit log's record {claimed['last_seq']} has hash {now['head_hash']}, the report names "
            f"{claimed.get('head_hash')}: the history it was computed over is not the one in the log"
        )
    elif now["first_seq"] != claimed.get("first_seq"):
        differences.append(
            f"the log now starts at record {now['first_seq']}, the report says {claimed.get('first_seq')}"
        )
    seq = generated.get(digest)
    if given["visibility"] != "public" and seq is None:
        differences.append(
            f"no report.generate record carries this report's sha256 {digest}: it was changed after it was "
            "generated, or was not generated by this installation"
        )
    differences.extend(compare(given, again))
    return Verification(not differences, str(given["kind"]), digest, seq, log_matches, differences)
