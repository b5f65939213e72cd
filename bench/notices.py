"""Precision and recall of the procurement-notice classifier, per language, on the labelled real notices in
tests/data/observatory/notices (labels.csv; sources in tests/data/observatory/SOURCES.md).

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

from rich.console import Console
from rich.table import Table

from overt.observatory.notices import classify_paths

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "observatory" / "notices"
BASELINE = re.compile(r"facial[- ]recognition|face[- ]recognition", re.IGNORECASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Write the figures as JSON here.")
    args = parser.parse_args()

    labels = {row["notice"]: row for row in csv.DictReader((CORPUS / "labels.csv").open(encoding="utf-8"))}
    started = time.perf_counter()
    results = classify_paths([CORPUS])
    seconds = time.perf_counter() - started
    texts = _texts(results)
    by_lang: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: {"rules": _zero(), "baseline": _zero()})
    seen = set()
    for result in results:
        key = (
            str(Path(result["path"]).relative_to(CORPUS))
            if "#" not in result["path"]
            else str(Path(result["path"].split("#")[0]).relative_to(CORPUS)) + "#" + result["path"].split("#", 1)[1]
        )
        label = labels[key]
        seen.add(key)
        truth = label["facial_recognition"] == "1"
        for name, predicted in (
            ("rules", result["facial_recognition"]),
            ("baseline", bool(BASELINE.search(texts[key]))),
        ):
            for lang in (label["language"], "all"):
                counts = by_lang[lang][name]
                counts["n"] += 1
                counts["positives"] += truth
                counts["tp"] += predicted and truth
                counts["fp"] += predicted and not truth
                counts["fn"] += (not predicted) and truth
    missing = set(labels) - seen
    if missing:
        raise SystemExit(f"labelled notices not found: {sorted(missing)}")

    table = Table("language", "notices", "FR / other", "precision", "recall", "baseline precision", "baseline recall")
    figures = {}
    for lang in sorted(by_lang, key=lambda k: (k == "all", k)):
        rules, base = by_lang[lang]["rules"], by_lang[lang]["baseline"]
        figures[lang] = {"rules": _rates(rules), "baseline": _rates(base)}
        table.add_row(
            lang,
            str(rules["n"]),
            f"{rules['positives']} / {rules['n'] - rules['positives']}",
            _fmt(figures[lang]["rules"]["precision"]),
            _fmt(figures[lang]["rules"]["recall"]),
            _fmt(figures[lang]["baseline"]["precision"]),
            _fmt(figures[lang]["baseline"]["recall"]),
        )
    console = Console()
    console.print(table)
    console.print(f"{len(results)} notices classified in {seconds:.2f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"figures": figures, "seconds": round(seconds, 3)}, indent=2) + "\n")


def _texts(results: list[dict]) -> dict[str, str]:
    """The text each notice was classified on, for the baseline (re-read through the same ingestion)."""
    from overt.observatory.notices import read_notices

    out = {}
    for notice in read_notices(CORPUS):
        path, _, key = notice.path.partition("#")
        rel = str(Path(path).relative_to(CORPUS))
        out[f"{rel}#{key}" if key else rel] = notice.text
    return out


def _zero() -> dict[str, int]:
    return {"n": 0, "positives": 0, "tp": 0, "fp": 0, "fn": 0}


def _rates(c: dict[str, int]) -> dict[str, float | int | None]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
    return {**c, "precision": precision, "recall": recall}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
