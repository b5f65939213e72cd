"""1:1 verification metrics (ISO/IEC 19795-1 / 19795-10 style) on comparison scores.

Conventions fixed for the whole project:

* a score is a similarity: higher means more alike;
* a pair is a MATCH when ``score >= threshold`` (ties at the threshold match);
* FMR  = impostor pairs with score >= t / impostor pairs with a score;
* FNMR = genuine pairs with score < t / genuine pairs with a score;
* a NaN score is a failure to acquire (FTA): no template could be compared. FTA pairs are left out of
  FMR and FNMR and reported on their own, plus ``fnmr_with_fta`` which counts them as non-matches.

A pair belongs to group G when both of its sides carry label G; a pair whose sides carry different labels
is a *cross-group* pair. Group labels come only from the dataset's own label columns: nothing here (or
anywhere in Overt) infers a trait from a face.

Everything is vectorised: curves sort the scores once and count with searchsorted, per-group rates at a
threshold use bincount, so ten million scores take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

RULE_OF_30 = 30
"""Doddington's rule of 30: fewer errors than this and the rate is not known to within +-30% (90% conf.)."""

RULE_OF_3 = 3.0
"""Rule of three: with 0 errors in n trials, 3/n is a 95% upper bound; so a rate r needs n >= 3/r."""


def supports(n: int, rate: float) -> bool:
    """Whether n trials can support a claim of error rate ``rate`` (rule of three: n >= 3/rate)."""
    return rate > 0 and n * rate >= RULE_OF_3 * (1 - 1e-9)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def factorize(*columns: Sequence[Any] | np.ndarray) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Map label columns onto one shared code space (sorted names), so that side a and side b agree."""
    arrays = [np.asarray(c).astype(str) for c in columns]
    names, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
    codes = np.split(inverse.astype(np.int64), np.cumsum([len(a) for a in arrays])[:-1])
    return codes, tuple(str(n) for n in names)


@dataclass(frozen=True)
class ScoreSet:
    """Scores of comparison pairs with their truth, group codes and resampling units.

    ``group_a``/``group_b`` are codes into ``group_names`` for the two sides of each pair. ``subject_a``/
    ``subject_b`` identify the resampling unit of each side (the identity when known; ``unit`` says
    what they are): bootstrap confidence intervals resample these, never single pairs, because pairs
    sharing a person are not independent. Build from labels with :meth:`from_labels`.
    """

    scores: np.ndarray
    same: np.ndarray
    group_a: np.ndarray
    group_b: np.ndarray
    group_names: tuple[str, ...]
    subject_a: np.ndarray | None = None
    subject_b: np.ndarray | None = None
    unit: str = "subject"

    def __post_init__(self) -> None:
        n = len(self.scores)
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float64))
        object.__setattr__(self, "same", np.asarray(self.same, dtype=bool))
        for name in ("group_a", "group_b", "subject_a", "subject_b"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, np.asarray(getattr(self, name)))
        for name in ("same", "group_a", "group_b", "subject_a", "subject_b"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries but there are {n} scores")
        if (self.subject_a is None) != (self.subject_b is None):
            raise ValueError("give both subject_a and subject_b, or neither")
        if np.isinf(self.scores).any():
            raise ValueError("scores must be finite (use NaN for a failure to acquire)")
        for codes in (self.group_a, self.group_b):
            if n and (codes.min() < 0 or codes.max() >= len(self.group_names)):
                raise ValueError("group codes must index group_names")

    @classmethod
    def from_labels(
        cls,
        scores: Sequence[float] | np.ndarray,
        same: Sequence[bool] | np.ndarray,
        *,
        groups: Sequence[Any] | np.ndarray | None = None,
        groups_b: Sequence[Any] | np.ndarray | None = None,
        subjects: Sequence[Any] | np.ndarray | None = None,
        subjects_b: Sequence[Any] | np.ndarray | None = None,
        unit: str = "subject",
    ) -> ScoreSet:
        """Build from per-pair labels; ``groups_b``/``subjects_b`` default to side a's labels."""
        n = len(scores)
        if groups is None:
            zeros = np.zeros(n, dtype=np.int64)
            group_codes, names = [zeros, zeros], ("all",)
        else:
            group_codes, names = factorize(groups, groups if groups_b is None else groups_b)
        subject_codes: list[np.ndarray | None] = [None, None]
        if subjects is not None:
            subject_codes = list(factorize(subjects, subjects if subjects_b is None else subjects_b)[0])
        return cls(
            np.asarray(scores, dtype=np.float64),
            np.asarray(same, dtype=bool),
            group_codes[0],
            group_codes[1],
            names,
            subject_codes[0],
            subject_codes[1],
            unit,
        )

    def __len__(self) -> int:
        return len(self.scores)


# --------------------------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class ErrorCurve:
    """FMR and FNMR at every distinct observed score used as a threshold (ascending).

    The last point is a sentinel just above the highest score (FMR 0, FNMR 1), so every operating point
    the data can distinguish is on the curve. Rates are NaN when a side has no pairs.
    """

    thresholds: np.ndarray
    fmr: np.ndarray
    fnmr: np.ndarray
    n_genuine: int
    n_impostor: int

    @classmethod
    def from_scores(cls, genuine: np.ndarray, impostor: np.ndarray) -> ErrorCurve:
        """Sort each side once, merge, and count; NaN (FTA) scores are dropped, -inf never matches.

        Written to allocate few 10M-sized temporaries: on large inputs page faults cost more than maths.
        """
        gen, imp = _sorted_finite(genuine), _sorted_finite(impostor)
        n = len(gen) + len(imp)
        if not n:
            empty = np.empty(0)
            return cls(empty, empty, empty, 0, 0)
        merged = np.empty(n + 1)
        merged[: len(gen)], merged[len(gen) : n] = gen, imp
        merged[:n].sort(kind="stable")  # timsort merges the two sorted runs in O(n)
        merged[n] = np.nextafter(merged[n - 1], np.inf)  # sentinel: nothing matches
        first = np.empty(n + 1, dtype=bool)
        first[0] = True
        np.not_equal(merged[1:], merged[:-1], out=first[1:])
        thresholds = merged if first.all() else merged[first]
        below = np.flatnonzero(first)  # scores strictly below each threshold
        gen_below = np.searchsorted(gen, thresholds, side="left")
        np.subtract(below, gen_below, out=below)  # impostors below
        np.subtract(len(imp), below, out=below)  # impostors at or above: false matches
        with np.errstate(invalid="ignore", divide="ignore"):
            fmr = below / len(imp) if len(imp) else np.full(len(thresholds), np.nan)
            fnmr = gen_below / len(gen) if len(gen) else np.full(len(thresholds), np.nan)
        start = 1 if thresholds[0] == -np.inf else 0  # -inf scores (1:N misses) never match
        return cls(thresholds[start:], fmr[start:], fnmr[start:], len(gen), len(imp))

    def at(self, threshold: float) -> tuple[float | None, float | None]:
        """(FMR, FNMR) at any threshold: rates only change at observed scores."""
        if not len(self.thresholds):
            return None, None
        i = min(int(np.searchsorted(self.thresholds, threshold, side="left")), len(self.thresholds) - 1)
        return _finite(self.fmr[i]), _finite(self.fnmr[i])

    def thin(self, max_points: int = 200) -> dict[str, list[float | None]]:
        """A plot-sized subset, dense where FMR or FNMR pass each decade (log-spaced levels)."""
        n = len(self.thresholds)
        if n <= max_points:
            idx = np.arange(n)
        else:
            levels = np.logspace(-8, 0, max(max_points // 2 - 1, 2))
            fmr = np.nan_to_num(self.fmr, nan=0.0)
            fnmr = np.nan_to_num(self.fnmr, nan=0.0)
            idx = np.unique(
                np.concatenate(
                    [
                        [0, n - 1],
                        np.searchsorted(-fmr, -levels, side="left"),
                        np.searchsorted(fnmr, levels, side="left"),
                    ]
                ).clip(0, n - 1)
            )
        return {
            "threshold": [_finite(x) for x in self.thresholds[idx]],
            "fmr": [_finite(x) for x in self.fmr[idx]],
            "fnmr": [_finite(x) for x in self.fnmr[idx]],
        }


def _sorted_finite(scores: np.ndarray) -> np.ndarray:
    """Sorted scores without NaN (sort puts NaN last, so trimming avoids a masked copy)."""
    out = np.sort(np.asarray(scores, dtype=np.float64))
    nan = int(np.count_nonzero(np.isnan(out))) if len(out) and np.isnan(out[-1]) else 0
    return out[: len(out) - nan]


def _finite(x: float) -> float | None:
    """JSON-safe number: NaN/inf become None."""
    x = float(x)
    return x if np.isfinite(x) else None


def error_curve(scores: np.ndarray, same: np.ndarray) -> ErrorCurve:
    """DET/ROC curve of one score set (all thresholds)."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    return ErrorCurve.from_scores(scores[same], scores[~same])


def fmr_fnmr(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """(FMR, FNMR) at one threshold without sorting; None where a side has no scored pairs."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    valid = ~np.isnan(scores)
    match = scores >= threshold
    n_imp = int(np.count_nonzero(valid & ~same))
    n_gen = int(np.count_nonzero(valid & same))
    return (
        _ratio(int(np.count_nonzero(match & ~same)), n_imp),
        _ratio(int(np.count_nonzero(~match & valid & same)), n_gen),
    )


@dataclass(frozen=True)
class EqualErrorRate:
    """EER and the threshold where it occurs.

    Between the last curve point with FMR > FNMR and the first with FMR <= FNMR both rates are linearly
    interpolated, as is the threshold: the interpolated EER is what a mix of those two neighbouring
    thresholds achieves, and is exact when the curves meet at an observed score.
    """

    rate: float
    threshold: float


def equal_error_rate(curve: ErrorCurve) -> EqualErrorRate | None:
    """EER of a curve; None without both genuine and impostor pairs."""
    if not curve.n_genuine or not curve.n_impostor:
        return None
    diff = curve.fmr - curve.fnmr  # non-increasing; positive at the lowest score, -1 at the sentinel
    i = int(np.searchsorted(-diff, 0.0, side="left"))
    if diff[i] == 0 or i == 0:
        return EqualErrorRate(float(curve.fmr[i]), float(curve.thresholds[i]))
    alpha = diff[i - 1] / (diff[i - 1] - diff[i])
    rate = curve.fmr[i - 1] + alpha * (curve.fmr[i] - curve.fmr[i - 1])
    thr = curve.thresholds[i - 1] + alpha * (curve.thresholds[i] - curve.thresholds[i - 1])
    return EqualErrorRate(float(rate), float(thr))


@dataclass(frozen=True)
class OperatingPoint:
    """FNMR at the lowest threshold whose FMR <= target, when the impostor count can support the target."""

    target_fmr: float
    supported: bool
    n_impostor: int
    threshold: float | None = None
    fmr: float | None = None
    fnmr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target_fmr,
            "supported": self.supported,
            "impostor": self.n_impostor,
            "needed": int(np.ceil(RULE_OF_3 / self.target_fmr - 1e-9)),
            "threshold": self.threshold,
            "fmr": self.fmr,
            "fnmr": self.fnmr,
        }


def fnmr_at_fmr(curve: ErrorCurve, targets: Sequence[float]) -> list[OperatingPoint]:
    """FNMR at each FMR target; a target is unsupported (no values) unless n_impostor >= 3/target."""
    points = []
    for target in targets:
        if not curve.n_genuine or not supports(curve.n_impostor, target):
            points.append(OperatingPoint(target, False, curve.n_impostor))
            continue
        i = int(np.searchsorted(-curve.fmr, -target, side="left"))  # first (lowest) t with fmr <= target
        points.append(
            OperatingPoint(
                target,
                True,
                curve.n_impostor,
                float(curve.thresholds[i]),
                float(curve.fmr[i]),
                float(curve.fnmr[i]),
            )
        )
    return points


# ----------------------------------------------------------------------------------- per-group rates


@dataclass(frozen=True)
class RateCounts:
    """Counts behind one group's rates at one threshold; rates are derived so they never disagree."""

    name: str
    genuine_attempts: int
    genuine_fta: int
    false_non_matches: int
    impostor_attempts: int
    impostor_fta: int
    false_matches: int
    cross_impostor: int = 0
    cross_false_matches: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def genuine(self) -> int:
        return self.genuine_attempts - self.genuine_fta

    @property
    def impostor(self) -> int:
        return self.impostor_attempts - self.impostor_fta

    @property
    def fmr(self) -> float | None:
        return _ratio(self.false_matches, self.impostor)

    @property
    def fnmr(self) -> float | None:
        return _ratio(self.false_non_matches, self.genuine)

    @property
    def fta(self) -> float | None:
        return _ratio(self.genuine_fta + self.impostor_fta, self.genuine_attempts + self.impostor_attempts)

    @property
    def fnmr_with_fta(self) -> float | None:
        return _ratio(self.false_non_matches + self.genuine_fta, self.genuine_attempts)

    @property
    def fmr_cross(self) -> float | None:
        return _ratio(self.cross_false_matches, self.cross_impostor)

    def to_dict(self) -> dict[str, Any]:
        fmr_support = support_level(self.false_matches, self.impostor)
        fnmr_support = support_level(self.false_non_matches, self.genuine)
        return {
            "fmr": self.fmr,
            "fnmr": self.fnmr,
            "fta": self.fta,
            "fnmr_with_fta": self.fnmr_with_fta,
            "genuine": self.genuine,
            "impostor": self.impostor,
            "false_matches": self.false_matches,
            "false_non_matches": self.false_non_matches,
            "genuine_fta": self.genuine_fta,
            "impostor_fta": self.impostor_fta,
            "fmr_upper95": min(1.0, RULE_OF_3 / self.impostor) if fmr_support == "zero_errors" else None,
            "fnmr_upper95": min(1.0, RULE_OF_3 / self.genuine) if fnmr_support == "zero_errors" else None,
            "fmr_support": fmr_support,
            "fnmr_support": fnmr_support,
            "low_support": fmr_support != "ok" or fnmr_support != "ok",
            "impostor_cross": self.cross_impostor,
            "false_matches_cross": self.cross_false_matches,
            "fmr_cross": self.fmr_cross,
            "warnings": list(self.warnings),
        }


def support_level(errors: int, n: int) -> str:
    """'none' (no pairs), 'zero_errors' (only an upper bound), 'few_errors' (< rule of 30) or 'ok'."""
    if n == 0:
        return "none"
    if errors == 0:
        return "zero_errors"
    return "few_errors" if errors < RULE_OF_30 else "ok"


def _support_warnings(name: str, rate: str, errors: int, n: int, kind: str) -> list[str]:
    if n == 0:
        return [f"{name}: no {kind} comparisons, {rate} undefined"]
    if errors == 0:
        return [
            f"{name}: 0 errors in {n:,} {kind} comparisons; {rate} <= {min(1.0, RULE_OF_3 / n):.3g} "
            "(95%, rule of three)"
        ]
    if errors < RULE_OF_30:
        return [
            f"{name}: {rate} rests on {errors} errors in {n:,} {kind} comparisons "
            f"(< {RULE_OF_30}, rule of 30): indicative only"
        ]
    return []


@dataclass(frozen=True)
class GroupRates:
    """Rates at one threshold: overall (all impostors), per group (within-group impostors), cross-group."""

    threshold: float
    overall: RateCounts
    groups: dict[str, RateCounts]
    cross_group: RateCounts

    def warnings(self) -> list[str]:
        notes = [w for g in self.groups.values() for w in g.warnings]
        if self.cross_group.genuine_attempts:
            notes.append(
                f"{self.cross_group.genuine_attempts:,} genuine pairs have different group labels on their "
                "two sides: the dataset labels are inconsistent; these pairs count only in the overall rates"
            )
        return notes


def group_rates(ss: ScoreSet, threshold: float) -> GroupRates:
    """Per-group FMR/FNMR/FTA at one global threshold, with within- and cross-group impostors apart.

    A group's ``fmr`` uses only impostor pairs whose both sides are in the group; ``fmr_cross`` uses the
    impostor pairs with exactly one side in it. Cross-group pairs also feed the overall FMR.
    """
    g = len(ss.group_names)
    valid = ~np.isnan(ss.scores)
    match = ss.scores >= threshold  # NaN compares False
    within = ss.group_a == ss.group_b
    bucket = np.where(within, ss.group_a, g)  # g = cross-group bucket

    def count(mask: np.ndarray, codes: np.ndarray = bucket) -> np.ndarray:
        return np.bincount(codes[mask], minlength=g + 1)

    gen, imp = ss.same, ~ss.same
    gen_att, gen_fta, fnm = count(gen), count(gen & ~valid), count(gen & valid & ~match)
    imp_att, imp_fta, fm = count(imp), count(imp & ~valid), count(imp & match)
    cross = imp & valid & ~within
    cross_n = count(cross, ss.group_a) + count(cross, ss.group_b)
    cross_fm = count(cross & match, ss.group_a) + count(cross & match, ss.group_b)

    def counts(name: str, i: int | slice) -> RateCounts:
        def total(a: np.ndarray) -> int:
            return int(a[i].sum())

        return RateCounts(
            name, total(gen_att), total(gen_fta), total(fnm), total(imp_att), total(imp_fta), total(fm)
        )

    groups = {}
    for i, name in enumerate(ss.group_names):
        base = counts(name, i)
        notes = _support_warnings(name, "FMR", base.false_matches, base.impostor, "within-group impostor")
        notes += _support_warnings(name, "FNMR", base.false_non_matches, base.genuine, "genuine")
        groups[name] = replace(
            base, cross_impostor=int(cross_n[i]), cross_false_matches=int(cross_fm[i]), warnings=notes
        )
    return GroupRates(float(threshold), counts("overall", slice(None)), groups, counts("cross", g))


# ------------------------------------------------------------------------------------- differentials

DIFFERENTIALS = ("fmr_max_min", "fnmr_max_min", "fmr_max_geomean", "fnmr_max_geomean")


def ratio_stats(rates: np.ndarray, floor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """max/min and max/geomean over groups (columns) for each row; NaN rates (empty groups) are skipped.

    Zero rates: without a ``floor`` a zero minimum (or any zero, for the geometric mean) makes the
    ratio undefined, returned as +inf. With a floor, rates below it are raised to it first (e.g. a
    rule-of-three bound), which makes ratios finite but conservative-looking; callers must report it.
    Rows with fewer than two defined groups, or all rates zero, give NaN.
    """
    rates = np.atleast_2d(np.asarray(rates, dtype=np.float64))
    if not rates.shape[1]:
        nan = np.full(len(rates), np.nan)
        return nan, nan
    if floor is not None:
        rates = np.where(np.isnan(rates), np.nan, np.maximum(rates, floor))
    defined = ~np.isnan(rates)
    k = defined.sum(axis=1)
    hi = np.nanmax(np.where(defined, rates, -np.inf), axis=1)
    lo = np.nanmin(np.where(defined, rates, np.inf), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(defined, np.log(np.where(defined, rates, 1.0)), 0.0)
        geo = np.exp(logs.sum(axis=1) / np.maximum(k, 1))
        max_min = np.where(lo > 0, hi / lo, np.inf)
        max_geo = np.where(geo > 0, hi / geo, np.inf)
    bad = (k < 2) | (hi <= 0)
    return np.where(bad, np.nan, max_min), np.where(bad, np.nan, max_geo)


def differentials(rates: GroupRates, floor: float | None = None) -> dict[str, Any]:
    """Demographic differentials of within-group FMR and FNMR at the threshold of ``rates``.

    Ratios are None when undefined (a zero rate with no floor, fewer than two non-empty groups, or every
    rate zero); each None and each skipped empty group comes with a note.
    """
    out: dict[str, Any] = {"floor": floor, "notes": []}
    for rate in ("fmr", "fnmr"):
        named = {name: getattr(c, rate) for name, c in rates.groups.items()}
        empty = sorted(name for name, v in named.items() if v is None)
        if empty:
            out["notes"].append(f"{rate.upper()}: skipped groups without comparisons: {', '.join(empty)}")
        defined = {name: v for name, v in named.items() if v is not None}
        max_min, max_geo = ratio_stats(np.array([list(defined.values())], dtype=np.float64), floor)
        out[f"{rate}_max_min"] = _finite(max_min[0])
        out[f"{rate}_max_geomean"] = _finite(max_geo[0])
        out[f"{rate}_max_group"] = max(defined, key=defined.__getitem__) if defined else None
        out[f"{rate}_min_group"] = min(defined, key=defined.__getitem__) if defined else None
        if len(defined) < 2:
            out["notes"].append(f"{rate.upper()}: fewer than two groups with comparisons, no ratio")
        elif np.isnan(max_min[0]):
            out["notes"].append(f"{rate.upper()}: every group's rate is 0, ratios undefined")
        elif np.isinf(max_min[0]):
            zero = sorted(n for n, v in defined.items() if v == 0)
            out["notes"].append(
                f"{rate.upper()}: rate is 0 in {', '.join(zero)}; max/min "
                f"{'and max/geomean ' if np.isinf(max_geo[0]) else ''}undefined (see rule-of-three bounds)"
            )
    return out
