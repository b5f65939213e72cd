"""Scoring: the rules that match a notice combine by noisy-or (each is independent evidence), so one clear
facial-recognition term decides, several supporting terms may, and camera or AI words alone cannot."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .extract import extract, language
from .ingest import Notice, read_notices
from .rules import RULES, THRESHOLD

SNIPPET = 60
MAX_EVIDENCE = 6


def classify(notice: Notice) -> dict[str, Any]:
    """One notice's verdict in the contract's shape, with the evidence highlighted (**match**) in context."""
    text = notice.text
    hits = []
    for rule in RULES:
        match = rule.pattern.search(text)
        if match:
            hits.append((rule, match))
    remaining = 1.0
    for rule, _ in hits:
        remaining *= 1 - rule.weight
    score = round(1 - remaining, 3)
    strongest = sorted(hits, key=lambda h: (-h[0].weight, h[1].start()))
    evidence = [_evidence(text, rule, match) for rule, match in strongest if rule.kind != "context"][:MAX_EVIDENCE]
    fields = {key: value for key, value in notice.fields.items() if value not in (None, "")}
    lang = fields.pop("language", None) or language(text)
    found = extract(text, lang)
    return {
        "path": notice.path,
        "facial_recognition": score >= THRESHOLD,
        "score": score,
        "evidence": evidence,
        "buyer": fields.get("buyer") or found["buyer"],
        "vendor": fields.get("vendor") or found["vendor"],
        "amount": fields.get("amount", found["amount"]),
        "currency": fields.get("currency") or (found["currency"] if "amount" not in fields else None),
        "date": fields.get("date") or found["date"],
        "language": lang,
        "cameras": found["cameras"],
    }


def classify_paths(paths: Iterable[Path]) -> list[dict[str, Any]]:
    return [classify(notice) for path in paths for notice in read_notices(path)]


def _evidence(text: str, rule: Any, match: Any) -> dict[str, Any]:
    start, end = match.start(), match.end()
    before = text[max(0, start - SNIPPET) : start].replace("\n", " ")
    after = text[end : end + SNIPPET].replace("\n", " ")
    lead = "…" if start > SNIPPET else ""
    tail = "…" if end + SNIPPET < len(text) else ""
    return {
        "match": match.group(0),
        "kind": rule.kind,
        "language": rule.language,
        "weight": rule.weight,
        "start": start,
        "end": end,
        "snippet": f"{lead}{before}**{match.group(0)}**{after}{tail}",
    }
