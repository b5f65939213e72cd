"""The deployments index's exchange schema (docs/observatory.md): one flat record per use of facial
recognition, with columns named after the Carnegie AI Global Surveillance (AIGS) index's and the EFF
Atlas of Surveillance's, so their exports import with their own headers and ours read in a spreadsheet."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from typing import Any

TECHNOLOGIES = ("live", "retrospective", "smart_city", "smart_policing")
STATUSES = ("announced", "procured", "pilot", "active", "suspended", "ended", "banned", "unknown")
CONFIDENCE = ("high", "medium", "low")

# Scalar columns, in export order. `technology` is a list (";" in CSV); sources are `link_N...` in CSV.
FIELDS = (
    "id",
    "country",
    "country_code",
    "region",
    "city",
    "latitude",
    "longitude",
    "agency",
    "agency_type",
    "purpose",
    "summary",
    "vendor",
    "product",
    "vendor_country",
    "technology",
    "funding",
    "lender",
    "start_date",
    "end_date",
    "status",
    "confidence",
)
SOURCE_FIELDS = ("url", "archive_url", "title", "date")
CSV_SOURCE_SUFFIX = {"url": "", "archive_url": "_snapshot", "title": "_title", "date": "_date"}

# Other indexes' headers (lower-cased) → ours. AIGS: Country, Region, Facial Recognition, Smart Cities/Safe
# Cities, Smart Policing, Source; EFF Atlas: AOSNUMBER, City, State, Agency, Type of LEA, Summary,
# Technology, Vendor, Link 1, Link 1 Snapshot, Link 1 Date, Latitude, Longitude.
ALIASES = {
    "aosnumber": "id",
    "state": "region",
    "type of lea": "agency_type",
    "type of juris": "agency_type",
    "description": "summary",
    "company": "vendor",
    "technology type": "technology",
    "date": "start_date",
    "year": "start_date",
    "source": "link_1",
    "lat": "latitude",
    "lon": "longitude",
    "lng": "longitude",
}
AIGS_FLAGS = {"smart cities/safe cities": "smart_city", "smart policing": "smart_policing"}
TECH_WORDS: dict[str, str | None] = {
    "live": "live",
    "real-time": "live",
    "realtime": "live",
    "face recognition": None,  # every record is facial recognition: the word adds nothing
    "facial recognition": None,
    "retrospective": "retrospective",
    "smart city": "smart_city",
    "safe city": "smart_city",
    "smart_city": "smart_city",
    "smart policing": "smart_policing",
    "smart_policing": "smart_policing",
    "predictive policing": "smart_policing",
}


class SchemaError(ValueError):
    """A record that cannot be read: the message names the record and the field."""


def normalise(raw: dict[str, Any], where: str = "record") -> dict[str, Any]:
    """One record in our schema from any supported header set; unknown columns are ignored."""
    row = {_key(k): v for k, v in raw.items() if k is not None}
    record: dict[str, Any] = {}
    for field in FIELDS:
        value = row.get(field)
        record[field] = "" if value is None else value
    record["id"] = str(record["id"]).strip() or _slug(record)
    if not record["id"]:
        raise SchemaError(f"{where}: no id, and no country, city, agency or vendor to make one from")
    for field in ("latitude", "longitude"):
        record[field] = _number(record[field], f"{where}: {field}")
    record["technology"] = _technology(row)
    for field in ("status", "confidence"):
        record[field] = str(record[field]).strip().lower()
    if record["status"] and record["status"] not in STATUSES:
        raise SchemaError(f"{where}: status {record['status']!r} is not one of {', '.join(STATUSES)}")
    if record["confidence"] and record["confidence"] not in CONFIDENCE:
        raise SchemaError(f"{where}: confidence {record['confidence']!r} is not one of {', '.join(CONFIDENCE)}")
    for field in FIELDS:
        if isinstance(record[field], str):
            record[field] = record[field].strip()
    record["sources"] = _sources(row, where)
    return record


def content_sha256(record: dict[str, Any]) -> str:
    """The hash a reviewer signs off: the record as canonical JSON."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def read_json(text: str) -> list[dict[str, Any]]:
    data = json.loads(text)
    rows = data.get("deployments") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise SchemaError('JSON must be a list of records or {"deployments": [...]}')
    return [normalise(row, f"record {n}") for n, row in enumerate(rows, 1)]


def read_csv(text: str) -> list[dict[str, Any]]:
    return [normalise(row, f"row {n}") for n, row in enumerate(csv.DictReader(io.StringIO(text)), 2)]


def write_json(records: Iterable[dict[str, Any]]) -> str:
    return (
        json.dumps({"schema": "overt-observatory-index/1", "deployments": list(records)}, indent=2, ensure_ascii=False)
        + "\n"
    )


def write_csv(records: Iterable[dict[str, Any]]) -> str:
    records = list(records)
    links = max((len(r["sources"]) for r in records), default=0)
    header = list(FIELDS) + [f"link_{n}{CSV_SOURCE_SUFFIX[f]}" for n in range(1, links + 1) for f in SOURCE_FIELDS]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = {f: _cell(record[f]) for f in FIELDS}
        for n, source in enumerate(record["sources"], 1):
            for f in SOURCE_FIELDS:
                row[f"link_{n}{CSV_SOURCE_SUFFIX[f]}"] = source.get(f, "")
        writer.writerow(row)
    return out.getvalue()


def read_file(name: str, text: str) -> list[dict[str, Any]]:
    """Records from a file by its extension (.csv or .json)."""
    if name.lower().endswith(".csv"):
        return read_csv(text)
    if name.lower().endswith(".json"):
        return read_json(text)
    raise SchemaError(f"{name}: expected a .csv or .json file")


def _key(name: str) -> str:
    key = re.sub(r"\s+", " ", str(name).strip().lower())
    key = ALIASES.get(key, key)
    return key.replace(" ", "_") if key not in AIGS_FLAGS else key


def _slug(record: dict[str, Any]) -> str:
    """An id for rows from indexes that have none (AIGS): stable, so a re-import updates the same record."""
    parts = [str(record[f]) for f in ("country", "city", "agency", "vendor") if record[f]]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else str(value)


def _number(value: Any, where: str) -> float | None:
    if value in ("", None):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{where}: {value!r} is not a number") from None


def _technology(row: dict[str, Any]) -> list[str]:
    value = row.get("technology") or []
    items = value if isinstance(value, list) else re.split(r"[;,/|]", str(value))
    found: list[str] = []
    for item in items:
        word = str(item).strip().lower()
        if not word:
            continue
        tech = TECH_WORDS.get(word, word.replace(" ", "_"))
        if tech is None:
            continue
        if tech not in TECHNOLOGIES:
            raise SchemaError(f"technology {item!r} is not one of {', '.join(TECHNOLOGIES)}")
        found.append(tech)
    for flag, tech in AIGS_FLAGS.items():  # AIGS marks each technology with a yes/no column
        if str(row.get(flag, "")).strip().lower() in ("yes", "y", "1", "true", "x"):
            found.append(tech)
    return sorted(set(found), key=TECHNOLOGIES.index)


def _sources(row: dict[str, Any], where: str) -> list[dict[str, str]]:
    if isinstance(row.get("sources"), list):
        sources = row["sources"]
    else:
        sources = []
        n = 1
        while f"link_{n}" in row or f"link_{n}_snapshot" in row:
            source = {f: str(row.get(f"link_{n}{CSV_SOURCE_SUFFIX[f]}") or "").strip() for f in SOURCE_FIELDS}
            if any(source.values()):
                sources.append(source)
            n += 1
    cleaned = []
    for source in sources:
        if not isinstance(source, dict):
            raise SchemaError(f"{where}: a source must be an object with a url")
        cleaned.append({f: str(source.get(f) or "").strip() for f in SOURCE_FIELDS})
    return cleaned
