"""Audits of other systems' outputs: vendor score files and (Gender-Shades-style) classifier predictions.

(a) :func:`load_score_csv` reads an external 1:1 system's scores, ``a,b,score,same,<label columns>``,
into a :class:`~overt.evaluation.metrics.ScoreSet` for :func:`~overt.evaluation.report.build_metrics`.

(b) :func:`audit_classifier` joins an external classifier's predictions with ground truth and reports its
error rate per intersectional subgroup. This audits predictions some other system already made (as the
Gender Shades study did); Overt itself never predicts race, gender or any trait from a face, and the
subgroups come only from the truth file's label columns.

Input errors raise :class:`CsvError` with a one-line message naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from overt.evaluation.metrics import RULE_OF_30, ScoreSet
from overt.evaluation.report import ReportFiles, bars_uri, esc, fmt_ci, fmt_rate, render_page, table

MISSING_LABEL = "(missing)"
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


class CsvError(ValueError):
    """A problem in an input CSV, as one line naming the file and, where it applies, the line number."""


@contextmanager
def _csv(
    path: Path, required: Sequence[str]
) -> Iterator[tuple[dict[str, int], Iterator[tuple[int, list[str]]]]]:
    """Header index and an iterator of (line number, stripped fields); checks columns and field counts."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CsvError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader, [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CsvError(f"{path} line 1: unreadable header: {exc}") from exc
        if not any(header):
            raise CsvError(f"{path}: file is empty (expected a header with {', '.join(required)})")
        index = {name: i for i, name in enumerate(header)}
        missing = [c for c in required if c not in index]
        if missing:
            raise CsvError(f"{path}: missing column(s) {', '.join(missing)} (header has {', '.join(header)})")

        def rows() -> Iterator[tuple[int, list[str]]]:
            try:
                for row in reader:
                    if not any(cell.strip() for cell in row):
                        continue
                    if len(row) != len(header):
                        raise CsvError(
                            f"{path} line {reader.line_num}: {len(row)} fields, header has {len(header)}"
                        )
                    yield reader.line_num, [cell.strip() for cell in row]
            except (csv.Error, UnicodeDecodeError) as exc:
                raise CsvError(f"{path} line {reader.line_num + 1}: unreadable: {exc}") from exc

        yield index, rows()


def _label_columns(index: dict[str, int], by: Sequence[str], path: Path) -> list[tuple[int, int]]:
    """For each ``by`` column: the same column for both sides, or ``<col>_a``/``<col>_b`` per side."""
    out = []
    for col in by:
        if col in index:
            out.append((index[col], index[col]))
        elif f"{col}_a" in index and f"{col}_b" in index:
            out.append((index[f"{col}_a"], index[f"{col}_b"]))
        else:
            raise CsvError(f"{path}: missing label column {col!r} (or {col}_a and {col}_b)")
    return out


def _label(row: list[str], columns: Sequence[int]) -> str:
    return "/".join(row[i] or MISSING_LABEL for i in columns)


def load_score_csv(path: str | Path, *, by: Sequence[str] = ()) -> ScoreSet:
    """Read ``a,b,score,same[,label columns]`` (``same``: 1/0/true/false; empty score: FTA).

    ``by`` names the label columns that define groups; several give intersectional groups such as
    ``"female/black"``. A column ``C`` labels both sides; ``C_a``/``C_b`` label each side (pairs whose
    sides differ are cross-group). Bootstrap units are ``subject_a``/``subject_b`` when present,
    otherwise the sample ids in ``a``/``b``.
    """
    path = Path(path)
    scores: list[float] = []
    same: list[bool] = []
    groups_a: list[str] = []
    groups_b: list[str] = []
    units_a: list[str] = []
    units_b: list[str] = []
    with _csv(path, ("a", "b", "score", "same")) as (index, rows):
        labels = _label_columns(index, by, path)
        with_subjects = "subject_a" in index and "subject_b" in index
        unit_cols = (index["subject_a"], index["subject_b"]) if with_subjects else (index["a"], index["b"])
        ia, ib, isc, isame = index["a"], index["b"], index["score"], index["same"]
        for line, row in rows:
            if not row[ia] or not row[ib]:
                raise CsvError(f"{path} line {line}: empty sample id in a or b")
            if row[ia] == row[ib]:
                raise CsvError(f"{path} line {line}: a and b are the same sample {row[ia]!r}")
            flag = row[isame].lower()
            if flag not in _TRUE | _FALSE:
                raise CsvError(f"{path} line {line}: same {row[isame]!r} is not 1/0/true/false")
            try:
                score = float(row[isc]) if row[isc] else math.nan
            except ValueError:
                raise CsvError(f"{path} line {line}: score {row[isc]!r} is not a number") from None
            if math.isinf(score):
                raise CsvError(f"{path} line {line}: score {row[isc]!r} is not finite")
            scores.append(score)
            same.append(flag in _TRUE)
            groups_a.append(_label(row, [a for a, _ in labels]))
            groups_b.append(_label(row, [b for _, b in labels]))
            units_a.append(row[unit_cols[0]])
            units_b.append(row[unit_cols[1]])
    if not scores:
        raise CsvError(f"{path}: no data rows")
    return ScoreSet.from_labels(
        scores,
        same,
        groups=groups_a if by else None,
        groups_b=groups_b if by else None,
        subjects=units_a,
        subjects_b=units_b,
        unit="subject" if with_subjects else "image",
    )


# ------------------------------------------------------------------------------- classifier audit


def wilson_interval(errors: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval for a binomial proportion: sound at 0 errors and small n, unlike +-1.96 SE."""
    if n == 0:
        return None, None
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ErrorRate:
    """Errors among n labelled samples, with a Wilson interval."""

    n: int
    errors: int
    level: float

    def to_dict(self) -> dict[str, Any]:
        lo, hi = wilson_interval(self.errors, self.n, self.level)
        return {
            "n": self.n,
            "errors": self.errors,
            "error_rate": self.errors / self.n if self.n else None,
            "ci": [lo, hi],
            "low_support": self.errors < RULE_OF_30,
        }


@dataclass(frozen=True)
class ClassifierAudit:
    """Error rates of an external classifier per intersectional subgroup and per single label column."""

    by: list[str]
    level: float
    overall: ErrorRate
    subgroups: dict[str, ErrorRate]
    marginals: dict[str, dict[str, ErrorRate]]
    missing_predictions: int
    unmatched_predictions: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rates = {name: r.errors / r.n for name, r in self.subgroups.items() if r.n}
        hi = max(rates, key=rates.__getitem__) if rates else None
        lo = min(rates, key=rates.__getitem__) if rates else None
        ratio = rates[hi] / rates[lo] if hi is not None and lo is not None and rates[lo] > 0 else None
        return {
            "schema": "overt.evaluation.classifier_audit/1",
            "by": self.by,
            "level": self.level,
            "overall": self.overall.to_dict(),
            "subgroups": {name: r.to_dict() for name, r in self.subgroups.items()},
            "marginals": {c: {v: r.to_dict() for v, r in m.items()} for c, m in self.marginals.items()},
            "differentials": {
                "max_group": hi,
                "min_group": lo,
                "error_max_min": ratio,
                "error_max_minus_min": None if hi is None or lo is None else rates[hi] - rates[lo],
            },
            "missing_predictions": self.missing_predictions,
            "unmatched_predictions": self.unmatched_predictions,
            "warnings": list(self.warnings),
        }


def _read_column(path: Path, id_column: str, columns: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with _csv(path, (id_column, *columns)) as (index, rows):
        for line, row in rows:
            key = row[index[id_column]]
            if not key:
                raise CsvError(f"{path} line {line}: empty {id_column}")
            if key in out:
                raise CsvError(f"{path} line {line}: duplicate {id_column} {key!r}")
            out[key] = [row[index[c]] for c in columns]
    if not out:
        raise CsvError(f"{path}: no data rows")
    return out


def audit_classifier(
    predictions: str | Path,
    truth: str | Path,
    *,
    by: Sequence[str],
    id_column: str = "id",
    prediction_column: str = "prediction",
    label_column: str = "label",
    level: float = 0.95,
) -> ClassifierAudit:
    """Join PRED.csv (id, prediction) with TRUTH.csv (id, label, group columns) and audit the errors.

    A prediction is wrong when it differs from the true label, ignoring case and surrounding space.
    Truth rows without a prediction are counted as ``missing_predictions`` and left out of the rates
    (and warned about): silently scoring them either way would bias the audit.
    """
    if not by:
        raise ValueError("name at least one truth column to group by")
    pred = _read_column(Path(predictions), id_column, [prediction_column])
    true = _read_column(Path(truth), id_column, [label_column, *by])
    wrong: list[bool] = []
    keys: list[list[str]] = []
    for key, (label, *groups) in true.items():
        if key in pred:
            wrong.append(pred[key][0].casefold() != label.casefold())
            keys.append([g or MISSING_LABEL for g in groups])
    if not wrong:
        raise CsvError(f"{predictions}: no prediction matches an id in {truth}")
    missing = len(true) - len(wrong)
    unmatched = len(set(pred) - set(true))
    errors = np.array(wrong, dtype=bool)

    def rate(mask: np.ndarray) -> ErrorRate:
        return ErrorRate(int(mask.sum()), int(errors[mask].sum()), level)

    combos = np.array(["/".join(k) for k in keys], dtype=object)
    subgroups = {name: rate(combos == name) for name in sorted(set(combos))}
    marginals = {}
    for i, col in enumerate(by):
        values = np.array([k[i] for k in keys], dtype=object)
        marginals[col] = {v: rate(values == v) for v in sorted(set(values))}
    warnings = []
    if missing:
        warnings.append(f"{missing:,} truth rows have no prediction and are left out of the rates")
    if unmatched:
        warnings.append(f"{unmatched:,} predictions have no truth row and are ignored")
    warnings += [
        f"{name}: {r.errors} errors in {r.n:,} samples (< {RULE_OF_30}, rule of 30): indicative only"
        for name, r in subgroups.items()
        if r.errors < RULE_OF_30
    ]
    return ClassifierAudit(
        list(by),
        level,
        rate(np.ones(len(errors), dtype=bool)),
        subgroups,
        marginals,
        missing,
        unmatched,
        warnings,
    )


def write_classifier_report(out_dir: str | Path, audit: ClassifierAudit, *, title: str) -> ReportFiles:
    """Write ``audit.json`` and a self-contained ``audit.html`` with a per-subgroup bar plot."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = audit.to_dict()
    files = ReportFiles(out / "audit.json", out / "audit.html")
    files.json.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    subgroups = doc["subgroups"]
    uri = bars_uri(
        list(subgroups),
        [s["error_rate"] for s in subgroups.values()],
        [s["ci"] for s in subgroups.values()],
        [None] * len(subgroups),
        ylabel="error rate",
        title=f"Error rate by {' / '.join(audit.by)}",
    )

    def rows(groups: dict[str, dict[str, Any]]) -> list[list[str]]:
        return [
            [
                esc(name),
                f"{s['n']:,}",
                f"{s['errors']:,}",
                esc(fmt_rate(s["error_rate"])),
                esc(fmt_ci(s["ci"])),
            ]
            for name, s in groups.items()
        ]

    header = ["Subgroup", "Samples", "Errors", "Error rate", f"{audit.level:.0%} CI (Wilson)"]
    d = doc["differentials"]
    ratio = (
        f"The highest subgroup error rate ({d['max_group']}) is {d['error_max_min']:.3g} times the lowest "
        f"({d['min_group']}), a gap of {d['error_max_minus_min']:.3g}."
        if d["error_max_min"] is not None
        else "The max/min ratio is undefined (a subgroup has no errors, or there is only one subgroup)."
    )
    body = [
        f"<p>{esc(ratio)}</p>",
        "<h2>Warnings</h2><ul>" + "".join(f"<li>{esc(w)}</li>" for w in doc["warnings"]) + "</ul>"
        if doc["warnings"]
        else "",
        f"<h2>By {esc(' / '.join(audit.by))}</h2>",
        table(header, rows({"overall": doc["overall"], **subgroups})),
        f'<img alt="error rate per subgroup" src="{uri}">',
        *[f"<h2>By {esc(col)} alone</h2>{table(header, rows(m))}" for col, m in doc["marginals"].items()],
        "<h2>Limits</h2><p>This audits predictions an external classifier already made, against the truth "
        "file's labels. Subgroups are those labels: if they are wrong or coarse, so is the audit. "
        "Overt never infers a trait from a face.</p>",
    ]
    files.html.write_text(render_page(title, "\n".join(b for b in body if b)), encoding="utf-8")
    return files
