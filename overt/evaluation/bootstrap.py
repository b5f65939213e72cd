"""Bootstrap confidence intervals that resample identities, not pairs.

Pairs that share a person are correlated (one hard-to-recognise person fails many genuine pairs), so
resampling pairs as if independent gives intervals that are far too narrow. Here each resample draws the
resampling *units* (identities, or images when identities are unknown) with replacement, within each
group so group sizes stay as designed. A pair then counts ``w_a * w_b`` times (``w_a`` when both sides
are the same unit), where ``w`` is how often its units were drawn. The threshold stays fixed: the
intervals describe sampling uncertainty of the rates at that operating point, not of a re-calibration.

Speed: pairs are first collapsed to unique (unit a, unit b, group bucket, genuine/impostor) cells, so the
cost is resamples x cells, and each chunk of resamples is a few numpy gathers and one ``reduceat``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from overt.evaluation.metrics import DIFFERENTIALS, ScoreSet, ratio_stats

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each chunk of resamples."""

Interval = tuple[float | None, float | None]

_CHUNK_CELLS = 4_000_000  # resamples x cells per chunk: bounds memory to ~100 MB


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile intervals for overall, per-group and differential rates at one threshold."""

    threshold: float
    n_resamples: int
    level: float
    seed: int
    unit: str
    n_units: int
    overall: dict[str, Interval]
    groups: dict[str, dict[str, Interval]]
    differentials: dict[str, Interval]
    undefined_fraction: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        def pair(iv: Interval) -> list[float | None]:
            return [iv[0], iv[1]]

        return {
            "threshold": self.threshold,
            "n_resamples": self.n_resamples,
            "level": self.level,
            "seed": self.seed,
            "unit": self.unit,
            "n_units": self.n_units,
            "overall": {k: pair(v) for k, v in self.overall.items()},
            "groups": {g: {k: pair(v) for k, v in d.items()} for g, d in self.groups.items()},
            "differentials": {k: pair(v) for k, v in self.differentials.items()},
            "undefined_fraction": self.undefined_fraction,
        }


@dataclass(frozen=True)
class _Cells:
    """Pairs collapsed to unique (unit a, unit b, bucket, kind) cells, ordered by column."""

    unit_a: np.ndarray
    unit_b: np.ndarray
    n: np.ndarray
    errors: np.ndarray
    starts: np.ndarray  # first cell of each non-empty column, for reduceat
    columns: np.ndarray  # which column each start belongs to; column = bucket * 2 + genuine


def _cells(ss: ScoreSet, threshold: float, n_units: int) -> _Cells:
    assert ss.subject_a is not None and ss.subject_b is not None
    g = len(ss.group_names)
    valid = ~np.isnan(ss.scores)
    scores, same = ss.scores[valid], ss.same[valid]
    ua, ub = ss.subject_a[valid].astype(np.int64), ss.subject_b[valid].astype(np.int64)
    ga, gb = ss.group_a[valid], ss.group_b[valid]
    bucket = np.where(ga == gb, ga, g).astype(np.int64)
    error = np.where(same, scores < threshold, scores >= threshold)
    lo, hi = np.minimum(ua, ub), np.maximum(ua, ub)
    if n_units * n_units * (g + 1) * 2 >= 2**63:
        raise ValueError("too many resampling units to index their pairs")
    column = bucket * 2 + same
    key = (lo * n_units + hi) * ((g + 1) * 2) + column
    cells, inverse = np.unique(key, return_inverse=True)
    n = np.bincount(inverse, minlength=len(cells)).astype(np.float64)
    errors = np.bincount(inverse, weights=error, minlength=len(cells))
    col = cells % ((g + 1) * 2)
    order = np.argsort(col, kind="stable")
    col, cells, n, errors = col[order], cells[order], n[order], errors[order]
    pair = cells // ((g + 1) * 2)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]]) if len(col) else np.empty(0, dtype=np.int64)
    return _Cells(pair // n_units, pair % n_units, n, errors, starts, col[starts])


def _unit_strata(ss: ScoreSet, n_units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units that occur, sorted by group, with each position's stratum start and size.

    Each resample draws, for every position, a unit uniformly from that position's stratum: all groups
    are resampled in one vectorised draw and keep their number of units.
    """
    assert ss.subject_a is not None and ss.subject_b is not None
    unit_group = np.full(n_units, -1, dtype=np.int64)
    unit_group[ss.subject_b] = ss.group_b
    unit_group[ss.subject_a] = ss.group_a  # a unit labelled inconsistently takes one of its labels
    present = np.flatnonzero(unit_group >= 0)
    units = present[np.argsort(unit_group[present], kind="stable")]
    sorted_groups = unit_group[units]
    _, start, size = np.unique(sorted_groups, return_index=True, return_counts=True)
    which = np.searchsorted(sorted_groups[start], sorted_groups)
    return units, start[which], size[which]


def bootstrap_rates(
    ss: ScoreSet,
    threshold: float,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    floor: float | None = None,
    progress: Progress | None = None,
) -> BootstrapResult:
    """Percentile CIs for FMR/FNMR (overall and per group) and the four differential ratios.

    Needs ``ss.subject_a``/``subject_b``. The same seed gives the same intervals. ``floor`` is passed
    to :func:`~overt.evaluation.metrics.ratio_stats` (zero-rate handling); resamples where a ratio is
    undefined count as +inf, so an upper bound of None means "unbounded", and ``undefined_fraction``
    says how often it happened.
    """
    if ss.subject_a is None or ss.subject_b is None:
        raise ValueError("bootstrap needs the identity (or image) of each pair side: subject_a/subject_b")
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    g = len(ss.group_names)
    n_units = int(max(ss.subject_a.max(initial=-1), ss.subject_b.max(initial=-1))) + 1
    cells = _cells(ss, threshold, n_units)
    units, stratum_start, stratum_size = _unit_strata(ss, n_units)
    rng = np.random.default_rng(seed)
    # A pair within one unit counts w times, otherwise w_a * w_b: point its b side at a constant-1 column.
    unit_b = np.where(cells.unit_a == cells.unit_b, n_units, cells.unit_b)
    chunk = int(np.clip(_CHUNK_CELLS // max(len(cells.n), n_units, 1), 1, n_resamples))
    n_stats = np.zeros((n_resamples, (g + 1) * 2))
    e_stats = np.zeros((n_resamples, (g + 1) * 2))
    for begin in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - begin)
        # Row-major draws: the random stream, hence the result, does not depend on the chunk size.
        draw = stratum_start + (rng.random((b, len(units))) * stratum_size).astype(np.int64)
        flat = (np.arange(b)[:, None] * (n_units + 1) + units[draw]).ravel()
        w = np.bincount(flat, minlength=b * (n_units + 1)).reshape(b, n_units + 1).astype(np.float64)
        w[:, n_units] = 1.0
        weight = w[:, cells.unit_a] * w[:, unit_b]
        if len(cells.starts):
            n_stats[begin : begin + b, cells.columns] = np.add.reduceat(
                weight * cells.n, cells.starts, axis=1
            )
            e_stats[begin : begin + b, cells.columns] = np.add.reduceat(
                weight * cells.errors, cells.starts, axis=1
            )
        if progress is not None:
            progress(begin + b, n_resamples)
    return _summarise(ss, threshold, n_resamples, seed, level, floor, len(units), n_stats, e_stats)


def _summarise(
    ss: ScoreSet,
    threshold: float,
    n_resamples: int,
    seed: int,
    level: float,
    floor: float | None,
    n_units: int,
    n_stats: np.ndarray,
    e_stats: np.ndarray,
) -> BootstrapResult:
    g = len(ss.group_names)
    q = ((1 - level) / 2, 1 - (1 - level) / 2)

    def rate(e: np.ndarray, n: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, e / np.where(n > 0, n, 1), np.nan)

    def interval(x: np.ndarray) -> Interval:
        if np.isnan(x).all():
            return None, None
        lo, hi = np.nanquantile(x, q, method="inverted_cdf")
        return (float(lo) if np.isfinite(lo) else None), (float(hi) if np.isfinite(hi) else None)

    imp_n, gen_n = n_stats[:, 0::2], n_stats[:, 1::2]
    imp_e, gen_e = e_stats[:, 0::2], e_stats[:, 1::2]
    fmr = rate(imp_e[:, :g], imp_n[:, :g])
    fnmr = rate(gen_e[:, :g], gen_n[:, :g])
    ratios: dict[str, np.ndarray] = {}
    for name, rates in (("fmr", fmr), ("fnmr", fnmr)):
        ratios[f"{name}_max_min"], ratios[f"{name}_max_geomean"] = ratio_stats(rates, floor)
    return BootstrapResult(
        threshold=float(threshold),
        n_resamples=n_resamples,
        level=level,
        seed=seed,
        unit=ss.unit,
        n_units=n_units,
        overall={
            "fmr": interval(rate(imp_e.sum(axis=1), imp_n.sum(axis=1))),
            "fnmr": interval(rate(gen_e.sum(axis=1), gen_n.sum(axis=1))),
        },
        groups={
            name: {"fmr": interval(fmr[:, i]), "fnmr": interval(fnmr[:, i])}
            for i, name in enumerate(ss.group_names)
        },
        differentials={k: interval(ratios[k]) for k in DIFFERENTIALS},
        undefined_fraction={k: float(np.mean(~np.isfinite(ratios[k]))) for k in DIFFERENTIALS},
    )


@contextmanager
def rich_progress(description: str = "Bootstrap") -> Iterator[Progress]:
    """A :data:`Progress` callback drawing a rich progress bar, for CLI and benchmark use."""
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
