"""Threshold calibration where the worst-served group decides, and the calibration file engines read.

A single global threshold set from pooled impostors can hide a group whose FMR is many times the target
(NIST FRVT part 3 found exactly this). Here the threshold is the lowest one at which *every* group's
within-group impostor FMR is at most the target, so the group with the highest-scoring impostors sets it.
The price is a higher FNMR for everyone, which the evidence records next to each group's rates.

The calibration file (JSON) is the contract with the engine, which reads ``model`` and ``threshold``::

    {"model": str, "threshold": float, "target_fmr": float, "method": str, "created": ISO 8601 UTC,
     "dataset": {"name", "sha256", "n_images", "n_identities"},
     "groups": {NAME: {"fmr", "fnmr", "impostor", "genuine", ...}}, "overall": {...},
     "limiting_group": str, "notes": str, "schema": 1}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from overt.evaluation.metrics import RULE_OF_3, ScoreSet, group_rates, supports

SCHEMA = 1
METHOD = "worst_group_within_fmr"


@dataclass(frozen=True)
class GroupCalibration:
    """One group's evidence at the chosen threshold, and the threshold it alone would need."""

    name: str
    impostor: int
    genuine: int
    false_matches: int
    false_non_matches: int
    fmr: float | None
    fnmr: float | None
    supported: bool  # impostor >= 3 / target_fmr (rule of three)
    threshold_alone: float | None  # None: no impostors, or the target allows every one of them

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "name"}


@dataclass(frozen=True)
class Calibration:
    """The chosen threshold with the evidence behind it."""

    threshold: float
    target_fmr: float
    limiting_group: str
    groups: dict[str, GroupCalibration]
    fmr: float | None
    fnmr: float | None
    n_pairs: int
    n_genuine: int
    n_impostor: int
    notes: list[str]
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "target_fmr": self.target_fmr,
            "method": self.method,
            "limiting_group": self.limiting_group,
            "overall": {
                "fmr": self.fmr,
                "fnmr": self.fnmr,
                "pairs": self.n_pairs,
                "genuine": self.n_genuine,
                "impostor": self.n_impostor,
            },
            "groups": {name: g.to_dict() for name, g in self.groups.items()},
            "notes": list(self.notes),
        }


def _lowest_threshold(impostor: np.ndarray, target_fmr: float) -> float | None:
    """Lowest t with #(impostor >= t) / n <= target: just above the (k+1)-th highest impostor score."""
    allowed = math.floor(target_fmr * len(impostor) + 1e-9)
    if allowed >= len(impostor):
        return None
    kth = np.partition(impostor, len(impostor) - allowed - 1)[len(impostor) - allowed - 1]
    return float(np.nextafter(kth, np.inf))


def calibrate_score_set(ss: ScoreSet, target_fmr: float) -> Calibration:
    """:func:`calibrate_threshold` on a :class:`ScoreSet` (cross-group pairs do not constrain it)."""
    if not 0 < target_fmr < 1:
        raise ValueError("target_fmr must be between 0 and 1")
    valid_imp = ~ss.same & ~np.isnan(ss.scores) & (ss.group_a == ss.group_b)
    alone = {
        name: _lowest_threshold(ss.scores[valid_imp & (ss.group_a == i)], target_fmr)
        for i, name in enumerate(ss.group_names)
    }
    constrained = {name: t for name, t in alone.items() if t is not None}
    if not constrained:
        raise ValueError("no group has enough within-group impostor pairs to constrain a threshold")
    limiting = max(constrained, key=constrained.__getitem__)
    threshold = constrained[limiting]
    rates = group_rates(ss, threshold)
    notes = []
    groups = {}
    for name, r in rates.groups.items():
        ok = supports(r.impostor, target_fmr)
        if not ok:
            notes.append(
                f"{name}: {r.impostor:,} within-group impostor pairs, fewer than the "
                f"{math.ceil(RULE_OF_3 / target_fmr - 1e-9):,} needed to support FMR {target_fmr:g} "
                "(rule of three)"
            )
        groups[name] = GroupCalibration(
            name, r.impostor, r.genuine, r.false_matches, r.false_non_matches, r.fmr, r.fnmr, ok, alone[name]
        )
    return Calibration(
        threshold=threshold,
        target_fmr=target_fmr,
        limiting_group=limiting,
        groups=groups,
        fmr=rates.overall.fmr,
        fnmr=rates.overall.fnmr,
        n_pairs=len(ss),
        n_genuine=rates.overall.genuine,
        n_impostor=rates.overall.impostor,
        notes=notes,
    )


def calibrate_threshold(
    scores: Sequence[float] | np.ndarray,
    same: Sequence[bool] | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray | None,
    target_fmr: float,
    *,
    groups_b: Sequence[Hashable] | np.ndarray | None = None,
) -> Calibration:
    """Lowest threshold at which every group's within-group impostor FMR <= ``target_fmr``.

    ``groups`` labels each pair (or side a, with ``groups_b`` for side b: pairs whose sides differ are
    cross-group and do not constrain the threshold). ``None`` calibrates on all pairs as one group.
    Groups with too few impostors to support the target still constrain it (conservatively) and are
    flagged ``supported=False``.
    """
    return calibrate_score_set(
        ScoreSet.from_labels(scores, same, groups=groups, groups_b=groups_b), target_fmr
    )


@dataclass(frozen=True)
class CalibrationFile:
    """A calibration as read back from disk."""

    model: str
    threshold: float
    target_fmr: float
    method: str
    created: str
    dataset: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    notes: str
    raw: dict[str, Any]


def write_calibration(
    path: str | Path,
    model_id: str,
    calibration: Calibration,
    dataset_sha256: str,
    *,
    dataset_name: str,
    n_images: int,
    n_identities: int,
    notes: str = "",
    created: datetime | None = None,
) -> Path:
    """Write the calibration JSON (shape in the module docstring) and return its path."""
    dataset_sha256 = dataset_sha256.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", dataset_sha256):
        raise ValueError("dataset_sha256 must be 64 hex digits")
    body = calibration.to_dict()
    doc = {
        "schema": SCHEMA,
        "model": model_id,
        "threshold": calibration.threshold,
        "target_fmr": calibration.target_fmr,
        "method": calibration.method,
        "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
        "dataset": {
            "name": dataset_name,
            "sha256": dataset_sha256,
            "n_images": n_images,
            "n_identities": n_identities,
        },
        "groups": body["groups"],
        "overall": body["overall"],
        "limiting_group": calibration.limiting_group,
        "notes": "\n".join([notes, *calibration.notes]).strip(),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # readers never see a half-written file
    return path


def read_calibration(path: str | Path) -> CalibrationFile:
    """Read and validate a calibration file; raises ValueError naming the file on any problem."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read calibration: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: calibration must be a JSON object")
    problems = []
    if not isinstance(doc.get("model"), str) or not doc["model"]:
        problems.append("'model' must be a non-empty string")
    for key in ("threshold", "target_fmr"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"'{key}' must be a finite number")
    dataset = doc.get("dataset")
    if not isinstance(dataset, Mapping) or not re.fullmatch(r"[0-9a-f]{64}", str(dataset.get("sha256", ""))):
        problems.append("'dataset.sha256' must be 64 lowercase hex digits")
    if not isinstance(doc.get("groups", {}), Mapping):
        problems.append("'groups' must be an object")
    if problems:
        raise ValueError(f"{path}: invalid calibration: {'; '.join(problems)}")
    return CalibrationFile(
        model=doc["model"],
        threshold=float(doc["threshold"]),
        target_fmr=float(doc["target_fmr"]),
        method=str(doc.get("method", "")),
        created=str(doc.get("created", "")),
        dataset=dict(dataset),
        groups=dict(doc.get("groups", {})),
        notes=str(doc.get("notes", "")),
        raw=dict(doc),
    )
