"""Notices out of files: plain text, HTML, PDF (text layer via pypdf), and Open Contracting Data Standard
JSON (a release, a release package, a record, or a record package; one notice per release)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

TEXT_SUFFIXES = (".txt", ".text", ".md")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
SUFFIXES = (*TEXT_SUFFIXES, *HTML_SUFFIXES, ".pdf", ".json")
MAX_BYTES = 50 * 1024 * 1024  # a notice larger than this is not a notice


class NoticeError(ValueError):
    """A file that cannot be read as a notice; the message names it."""


@dataclass
class Notice:
    """One notice's text, and the fields a structured source (OCDS) states outright."""

    path: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


def read_notices(path: Path) -> Iterator[Notice]:
    """Every notice in a file or, recursively, a folder (files of unknown kinds in a folder are skipped)."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            yield from read_notices(child)
        return
    if not path.is_file():
        raise NoticeError(f"{path}: no such file or folder")
    if path.stat().st_size > MAX_BYTES:
        raise NoticeError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
    suffix = path.suffix.lower()
    if suffix == ".json":
        yield from _ocds(path)
    elif suffix == ".pdf":
        yield Notice(str(path), _pdf_text(path))
    elif suffix in HTML_SUFFIXES:
        yield Notice(str(path), html_text(_decode(path)))
    elif suffix in TEXT_SUFFIXES:
        yield Notice(str(path), _decode(path))
    else:
        raise NoticeError(f"{path}: expected .txt, .html, .pdf or OCDS .json")


def html_text(html: str) -> str:
    """The visible text of an HTML page (scripts and styles dropped, blocks on their own lines)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _pdf_text(path: Path) -> str:
    try:
        reader = PdfReader(str(path))
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, OSError) as exc:
        raise NoticeError(f"{path}: not a readable PDF ({exc})") from None


def _ocds(path: Path) -> Iterator[Notice]:
    try:
        data = json.loads(_decode(path))
    except json.JSONDecodeError as exc:
        raise NoticeError(f"{path}: not JSON ({exc})") from None
    releases = list(_releases(data))
    if not releases:
        raise NoticeError(f"{path}: no OCDS releases or records in it")
    for n, release in enumerate(releases):
        key = release.get("ocid") or release.get("id") or str(n)
        yield Notice(f"{path}#{key}", release_text(release), release_fields(release))


def _releases(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _releases(item)
    elif isinstance(data, dict):
        if "releases" in data and isinstance(data["releases"], list) and "ocid" not in data:
            yield from (r for r in data["releases"] if isinstance(r, dict))
        elif "records" in data and isinstance(data["records"], list):
            for record in data["records"]:
                if isinstance(record, dict):
                    yield from _record(record)
        elif "compiledRelease" in data or ("ocid" in data and "releases" in data):
            yield from _record(data)
        elif "ocid" in data or "tender" in data:
            yield data


def _record(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A record stands for one contracting process: its compiled release, else its latest full release."""
    if isinstance(record.get("compiledRelease"), dict):
        yield record["compiledRelease"]
        return
    full = [r for r in record.get("releases") or [] if isinstance(r, dict) and ("tender" in r or "awards" in r)]
    if full:
        yield max(full, key=lambda r: str(r.get("date", "")))


def release_text(release: dict[str, Any]) -> str:
    """The words of a release that say what is bought: titles, descriptions, items, lots, classifications."""
    parts: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip() and value not in parts:
            parts.append(value.strip())

    add(release.get("title"))
    add(release.get("description"))
    for section in (
        "planning",
        "tender",
        *[f"awards#{i}" for i in range(len(release.get("awards") or []))],
        *[f"contracts#{i}" for i in range(len(release.get("contracts") or []))],
    ):
        block = _section(release, section)
        add(block.get("title"))
        add(block.get("description"))
        add((block.get("classification") or {}).get("description"))
        for item in block.get("items") or []:
            add(item.get("description"))
            add((item.get("classification") or {}).get("description"))
            for extra in item.get("additionalClassifications") or []:
                add(extra.get("description"))
        for lot in block.get("lots") or []:
            add(lot.get("title"))
            add(lot.get("description"))
    return "\n".join(parts)


def release_fields(release: dict[str, Any]) -> dict[str, Any]:
    """Buyer, supplier, value and date as the release states them (text extraction fills the gaps)."""
    parties = [p for p in release.get("parties") or [] if isinstance(p, dict)]
    buyer = (release.get("buyer") or {}).get("name") or next(
        (p.get("name") for p in parties if "buyer" in (p.get("roles") or [])), None
    )
    suppliers = [s.get("name") for a in release.get("awards") or [] for s in a.get("suppliers") or [] if s.get("name")]
    suppliers = suppliers or [p.get("name") for p in parties if "supplier" in (p.get("roles") or [])]
    value: dict[str, Any] = {}
    for section in ("contracts#0", "awards#0", "tender", "planning"):
        block = _section(release, section)
        candidate = block.get("value") or (block.get("budget") or {}).get("amount") or {}
        if isinstance(candidate, dict) and candidate.get("amount") is not None:
            value = candidate
            break
    tender = release.get("tender") or {}
    return {
        "buyer": buyer,
        "vendor": "; ".join(dict.fromkeys(s for s in suppliers if s)) or None,
        "amount": value.get("amount"),
        "currency": value.get("currency"),
        "date": (release.get("date") or tender.get("datePublished") or "")[:10] or None,
        "language": release.get("language"),
    }


def _section(release: dict[str, Any], name: str) -> dict[str, Any]:
    key, _, index = name.partition("#")
    block = release.get(key)
    if index:
        block = block[int(index)] if isinstance(block, list) and len(block) > int(index) else None
    return block if isinstance(block, dict) else {}


class _Text(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}
    SKIP = {"script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)
