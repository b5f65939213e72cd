"""Precision and recall of the procurement-notice classifier, per language, on labelled real notices
(tests/data/observatory/SOURCES.md): the development set (`notices/`, which the rules were written against,
so its figures are in-sample) and a held-out set (`notices-heldout/`, collected after the rules were frozen
at commit fd73676 and never used to change them).

Baseline, in the same run: grepping for the English phrases "facial recognition" / "face recognition",
what a researcher without multilingual rules would do.

    .venv/bin/python bench/notices.py [--out out/bench-notices.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from overt.observatory.notices import classify, read_notices

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "observatory"
SETS = {"development (in-sample)": DATA / "notices", "held-out": DATA / "notices-heldout"}
BASELINE = re.compile(r"facial[- ]recognition|face[- ]recognition", re.IGNORECASE)


def key(corpus: Path, path: str) -> str:
    """A notice's name in labels.csv: its file relative to the corpus, plus #ocid for an OCDS release."""
    file, _, release = path.partition("#")
    return str(Path(file).relative_to(corpus)) + (f"#{release}" if release else "")


def evaluate(corpus: Path) -> tuple[dict[str, Any], int, float]:
    labels = {row["notice"]: row for row in csv.DictReader((corpus / "labels.csv").open(encoding="utf-8"))}
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: {"rules": _zero(), "baseline": _zero()})
    started = time.perf_counter()
    notices = list(read_notices(corpus))
    results = [classify(notice) for notice in notices]
    seconds = time.perf_counter() - started
    for notice, result in zip(notices, results, strict=True):
        label = labels.pop(key(corpus, notice.path))
        truth = label["facial_recognition"] == "1"
        for name, predicted in (
            ("rules", result["facial_recognition"]),
            ("baseline", bool(BASELINE.search(notice.text))),
        ):
            for lang in (label["language"], "all"):
                c = counts[lang][name]
                c["n"] += 1
                c["positives"] += truth
                c["tp"] += predicted and truth
                c["fp"] += predicted and not truth
                c["fn"] += (not predicted) and truth
    if labels:
        raise SystemExit(f"labelled notices not found in {corpus}: {sorted(labels)}")
    figures = {lang: {name: _rates(c) for name, c in by.items()} for lang, by in counts.items()}
    return figures, len(results), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Write the figures as JSON here.")
    args = parser.parse_args()
    console = Console()
    report = {}
    for title, corpus in SETS.items():
        figures, n, seconds = evaluate(corpus)
        report[title] = {"figures": figures, "notices": n, "seconds": round(seconds, 3)}
        table = Table(
            "language",
            "notices",
            "FR / other",
            "precision",
            "recall",
            "baseline precision",
            "baseline recall",
            title=f"{title}: {corpus.relative_to(DATA.parent.parent.parent)}",
        )
        for lang in sorted(figures, key=lambda k: (k == "all", k)):
            rules, base = figures[lang]["rules"], figures[lang]["baseline"]
            table.add_row(
                lang,
                str(rules["n"]),
                f"{rules['positives']} / {rules['n'] - rules['positives']}",
                _fmt(rules["precision"]),
                _fmt(rules["recall"]),
                _fmt(base["precision"]),
                _fmt(base["recall"]),
            )
        console.print(table)
        console.print(f"{n} notices read and classified in {seconds:.2f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def _zero() -> dict[str, int]:
    return {"n": 0, "positives": 0, "tp": 0, "fp": 0, "fn": 0}


def _rates(c: dict[str, int]) -> dict[str, Any]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
    return {**c, "precision": precision, "recall": recall}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
