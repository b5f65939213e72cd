"""Comparison pairs from per-sample identity (and group) labels, deterministic for a seed.

Samples are indexed 0..n-1 in the order given. Every pair is returned once, as ``(a, b)`` with
``a < b``, sorted, so the same inputs and seed always give the same pairs in the same order.

All genuine pairs are kept. Impostor pairs are enumerated when they fit under ``limit``, otherwise a
uniform sample of exactly ``limit`` is drawn. With ``groups``, impostors are drawn per stratum (each
group's within-group pairs, plus one stratum of cross-group pairs), each capped at ``limit``: demographic
FMR needs within-group impostors, which a pooled sample would leave thin for small groups.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from overt.evaluation.metrics import ScoreSet, factorize

_BLOCK = 4_000_000  # candidate pairs examined at a time when enumerating


@dataclass(frozen=True)
class Pairs:
    """Sample-index pairs with their truth: ``same`` is True for a genuine (same identity) pair."""

    a: np.ndarray
    b: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def _codes(labels: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    return factorize(labels)[0][0]


def genuine_pairs(identities: Sequence[Hashable] | np.ndarray) -> np.ndarray:
    """All (a, b) with a < b and the same identity, as an (n, 2) int64 array."""
    ids = _codes(identities)
    order = np.argsort(ids, kind="stable")
    bounds = np.flatnonzero(np.diff(ids[order])) + 1
    out = []
    for members in np.split(order, bounds):
        if len(members) > 1:
            i, j = np.triu_indices(len(members), 1)
            out.append(np.sort(np.stack([members[i], members[j]], axis=1), axis=1))
    return _sorted(np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64))


def _sorted(pairs: np.ndarray) -> np.ndarray:
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int64)


def _unrank(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear index over pairs i < j (ordered by j, then i) to (i, j); exact for huge k."""
    j = np.floor((1 + np.sqrt(1 + 8 * k.astype(np.float64))) / 2).astype(np.int64)
    j -= j * (j - 1) // 2 > k  # float sqrt may overshoot or undershoot by one
    j += (j + 1) * j // 2 <= k
    return k - j * (j - 1) // 2, j


Keep = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _stratum(members: np.ndarray, keep: Keep, n_keep: int, limit: int | None, seed: list[int]) -> np.ndarray:
    """Kept pairs among all pairs of ``members``: all of them, or a uniform sample of ``limit``."""
    total = len(members) * (len(members) - 1) // 2
    if limit is None or n_keep <= limit:
        parts = []
        for start in range(0, total, _BLOCK):
            i, j = _unrank(np.arange(start, min(start + _BLOCK, total), dtype=np.int64))
            mask = keep(members[i], members[j])
            parts.append(np.stack([members[i][mask], members[j][mask]], axis=1))
        return np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)
    # Rejection sampling over the stratum's pair space: any procedure symmetric in the candidates
    # yields a uniformly random subset, and drawing with one seeded generator makes it repeatable.
    rng = np.random.default_rng(seed)
    chosen = np.empty(0, dtype=np.int64)
    while len(chosen) < limit:
        want = int((limit - len(chosen)) * total / n_keep * 1.2) + 64
        k = rng.integers(0, total, size=want)
        i, j = _unrank(k)
        chosen = np.unique(np.concatenate([chosen, k[keep(members[i], members[j])]]))
    i, j = _unrank(rng.permutation(chosen)[:limit])
    return np.stack([members[i], members[j]], axis=1)


def impostor_pairs(
    identities: Sequence[Hashable] | np.ndarray,
    *,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Impostor (different identity) pairs as an (n, 2) array; at most ``limit`` per stratum.

    Without ``groups`` there is one stratum. With ``groups`` there is one per group (both sides in it)
    plus one for cross-group pairs. ``limit=None`` enumerates everything: n(n-1)/2 pairs, so mind n.
    """
    ids = _codes(identities)
    n = len(ids)
    gen = genuine_pairs(ids)
    if groups is None:
        group = np.zeros(n, dtype=np.int64)
    else:
        group = _codes(groups)
        if len(group) != n:
            raise ValueError(f"{len(group)} group labels for {n} samples")
    sizes = np.bincount(group)
    gen_within = np.bincount(group[gen[:, 0]][group[gen[:, 0]] == group[gen[:, 1]]], minlength=len(sizes))
    out = []
    for g, size in enumerate(sizes):
        members = np.flatnonzero(group == g)
        n_keep = int(size * (size - 1) // 2 - gen_within[g])
        out.append(_stratum(members, lambda a, b: ids[a] != ids[b], n_keep, limit, [seed, g]))
    if len(sizes) > 1:
        n_cross = int(n * (n - 1) // 2 - (sizes * (sizes - 1) // 2).sum() - (len(gen) - gen_within.sum()))

        def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return (group[a] != group[b]) & (ids[a] != ids[b])

        out.append(_stratum(np.arange(n), cross, n_cross, limit, [seed, len(sizes)]))
    return _sorted(np.sort(np.concatenate(out), axis=1))


def make_pairs(
    identities: Sequence[Hashable] | np.ndarray,
    *,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    impostor_limit: int | None = None,
    seed: int = 0,
) -> Pairs:
    """All genuine pairs plus impostor pairs (see :func:`impostor_pairs`), sorted by (a, b)."""
    gen = genuine_pairs(identities)
    imp = impostor_pairs(identities, groups=groups, limit=impostor_limit, seed=seed)
    both = np.concatenate([gen, imp])
    same = np.concatenate([np.ones(len(gen), dtype=bool), np.zeros(len(imp), dtype=bool)])
    order = np.lexsort((both[:, 1], both[:, 0]))
    return Pairs(both[order, 0], both[order, 1], same[order])


def score_set_from_pairs(
    scores: Sequence[float] | np.ndarray,
    pairs: Pairs,
    identities: Sequence[Hashable] | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray | None = None,
) -> ScoreSet:
    """Attach per-sample identity and group labels to the scores of ``pairs`` (NaN score = FTA)."""
    ids = np.asarray(identities, dtype=object)
    labels = None if groups is None else np.asarray(groups, dtype=object)
    return ScoreSet.from_labels(
        scores,
        pairs.same,
        groups=None if labels is None else labels[pairs.a],
        groups_b=None if labels is None else labels[pairs.b],
        subjects=ids[pairs.a],
        subjects_b=ids[pairs.b],
    )
