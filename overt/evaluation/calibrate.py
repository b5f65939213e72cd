"""Threshold calibration where the worst-served group decides.

A single global threshold set from pooled impostors can hide a group whose FMR is many times the target
(NIST FRVT part 3 found exactly this). Here the threshold is the lowest one at which *every* group's
within-group impostor FMR is at most the target, so the group with the highest-scoring impostors sets it.
The price is a higher FNMR for everyone, which the evidence records next to each group's rates. The
calibration file the engine reads is written by ``overt.engine.calibration.write_calibration``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
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
    return calibrate_score_set(ScoreSet.from_labels(scores, same, groups=groups, groups_b=groups_b), target_fmr)
