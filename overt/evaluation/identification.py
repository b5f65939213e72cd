"""1:N identification metrics (NIST FRVT 1:N / ISO/IEC 19795-1 terms) from a probe x gallery score matrix.

* FPIR(t): share of non-mated probes (subject not enrolled) whose best candidate scores >= t, i.e.
  that would raise a false alarm;
* FNIR(t, R): share of mated probes whose mate is not returned at rank <= R with score >= t;
* rank-k identification rate: share of mated probes whose mate is ranked k or better (no threshold).

Ranks count ties against the probe: a gallery entry scoring exactly as high as the mate ranks above it.
A probe row that is entirely NaN failed to acquire: it is counted as FTA and left out of the rates;
single NaN entries are treated as non-candidates.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from overt.evaluation.metrics import ErrorCurve, factorize

_CHUNK_ELEMENTS = 8_000_000  # rank computation works on this many matrix entries at a time


@dataclass(frozen=True)
class IdentificationCounts:
    """Counts behind one group's 1:N rates."""

    mated: int
    nonmated: int
    fta: int
    false_negatives: int
    false_positives: int
    rank_hits: dict[int, int]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fpir": self.false_positives / self.nonmated if self.nonmated else None,
            "fnir": self.false_negatives / self.mated if self.mated else None,
            "mated": self.mated,
            "nonmated": self.nonmated,
            "fta": self.fta,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
        }
        for k, hits in self.rank_hits.items():
            out[f"rank_{k}"] = hits / self.mated if self.mated else None
        return out


@dataclass(frozen=True)
class IdentificationMetrics:
    """1:N results at one threshold, overall and per probe group, with the FNIR-vs-FPIR curve."""

    threshold: float
    rank: int
    overall: IdentificationCounts
    groups: dict[str, IdentificationCounts]
    curve: ErrorCurve  # fmr = FPIR, fnmr = FNIR

    def to_dict(self, max_points: int = 200) -> dict[str, Any]:
        thinned = self.curve.thin(max_points)
        return {
            "threshold": self.threshold,
            "rank": self.rank,
            "overall": self.overall.to_dict(),
            "groups": {name: c.to_dict() for name, c in self.groups.items()},
            "curve": {"threshold": thinned["threshold"], "fpir": thinned["fmr"], "fnir": thinned["fnmr"]},
        }


def _mate_ranks(scores: np.ndarray, mate_col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mate score and pessimistic rank per mated probe, in row chunks to bound memory."""
    mate_score = scores[np.arange(len(scores)), mate_col]
    ranks = np.empty(len(scores), dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // max(scores.shape[1], 1))
    for i in range(0, len(scores), step):
        ranks[i : i + step] = (scores[i : i + step] >= mate_score[i : i + step, None]).sum(axis=1)
    return mate_score, ranks


def identification_metrics(
    scores: np.ndarray,
    gallery: Sequence[Hashable],
    truth: Sequence[Hashable | None],
    *,
    threshold: float,
    groups: Sequence[Hashable] | None = None,
    rank: int = 1,
    ranks: Sequence[int] = (1, 5, 10),
) -> IdentificationMetrics:
    """FPIR, FNIR (at rank <= ``rank``) and rank-k rates from a (probes x gallery subjects) score matrix.

    ``gallery`` names the subject of each column (one column per subject); ``truth`` gives each probe's
    true subject, or None for a non-mated probe; ``groups`` gives each probe's group label.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (len(truth), len(gallery)):
        raise ValueError(
            f"scores must be (probes, gallery) = ({len(truth)}, {len(gallery)}), got {scores.shape}"
        )
    column = {subject: i for i, subject in enumerate(gallery)}
    if len(column) != len(gallery):
        raise ValueError("gallery subjects must be unique (one column per subject)")
    missing = [t for t in truth if t is not None and t not in column]
    if missing:
        raise ValueError(f"{len(missing)} mated probes name subjects not in the gallery, e.g. {missing[0]!r}")
    fta = np.isnan(scores).all(axis=1) if scores.shape[1] else np.ones(len(scores), dtype=bool)
    filled = np.where(np.isnan(scores), -np.inf, scores)
    mated = np.array([t is not None for t in truth], dtype=bool) & ~fta
    nonmated = np.array([t is None for t in truth], dtype=bool) & ~fta
    mate_col = np.array([column[t] for t, m in zip(truth, mated, strict=True) if m], dtype=np.int64)
    mate_score, mate_rank = _mate_ranks(filled[mated], mate_col)
    hit_score = np.where(mate_rank <= rank, mate_score, -np.inf)  # a miss can never be found
    best = filled[nonmated].max(axis=1, initial=-np.inf)

    if groups is None:
        codes, names = np.zeros(len(truth), dtype=np.int64), ("all",)
    else:
        (codes,), names = factorize(groups)

    def counts(select: np.ndarray) -> IdentificationCounts:
        m, nm = select[mated], select[nonmated]
        return IdentificationCounts(
            mated=int(m.sum()),
            nonmated=int(nm.sum()),
            fta=int((select & fta).sum()),
            false_negatives=int((hit_score[m] < threshold).sum()),
            false_positives=int((best[nm] >= threshold).sum()),
            rank_hits={k: int((mate_rank[m] <= k).sum()) for k in ranks},
        )

    return IdentificationMetrics(
        threshold=float(threshold),
        rank=rank,
        overall=counts(np.ones(len(truth), dtype=bool)),
        groups={name: counts(codes == i) for i, name in enumerate(names)},
        curve=ErrorCurve.from_scores(hit_score, best),
    )
