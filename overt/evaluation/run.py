"""An evaluation of the engine on a labelled dataset: pairs, scores, 1:1 and 1:N metrics per group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.cohort import Scorer
from .dataset import Embedded, Manifest
from .identification import identification_metrics
from .metrics import ScoreSet
from .pairs import Pairs, make_pairs, score_set_from_pairs
from .report import build_metrics

# dlib's documentation and face_recognition use 0.6 on dlib's raw descriptor distance.
DLIB_CUSTOMARY_DISTANCE = 0.6


@dataclass(frozen=True)
class Scored:
    """The pairs and their cosine scores (NaN where either image had no usable face)."""

    pairs: Pairs
    cosine: np.ndarray
    score_set: ScoreSet


def cosine_scores(embedded: Embedded, pairs: Pairs) -> np.ndarray:
    va, vb = embedded.vectors[pairs.a], embedded.vectors[pairs.b]
    return np.einsum("ij,ij->i", va, vb).astype(np.float64)


def scorer_stats(embedded: Embedded, scorer: Scorer) -> tuple[np.ndarray, np.ndarray]:
    """Cohort statistics per image (NaN where no face was acquired)."""
    means = np.full(len(embedded.vectors), np.nan)
    stds = np.full(len(embedded.vectors), np.nan)
    ok = embedded.acquired
    if ok.any():
        means[ok], stds[ok] = scorer.stats(embedded.vectors[ok])
    return means, stds


def normalised_scores(embedded: Embedded, pairs: Pairs, cosine: np.ndarray, scorer: Scorer) -> np.ndarray:
    means, stds = scorer_stats(embedded, scorer)
    return scorer.normalise(cosine, means[pairs.a], stds[pairs.a], means[pairs.b], stds[pairs.b])


def native_distance_scores(embedded: Embedded, pairs: Pairs, cosine: np.ndarray) -> np.ndarray:
    """Minus dlib's own Euclidean distance, recovered from unit vectors and their raw lengths."""
    na, nb = embedded.norms[pairs.a], embedded.norms[pairs.b]
    return -np.sqrt(np.maximum(na**2 + nb**2 - 2 * na * nb * cosine, 0.0))


def score_pairs(
    manifest: Manifest, embedded: Embedded, by: list[str], *, impostor_limit: int | None, seed: int
) -> Scored:
    groups = manifest.groups(by)
    pairs = make_pairs(manifest.identities, groups=groups, impostor_limit=impostor_limit, seed=seed)
    cosine = cosine_scores(embedded, pairs)
    return Scored(pairs, cosine, score_set_from_pairs(cosine, pairs, manifest.identities, groups))


def identification_split(
    identities: list[str], acquired: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Half the identities (seeded) are enrolled with their first usable image; their other images are
    mated probes; every image of the other half is a non-mated probe."""
    rng = np.random.default_rng(seed)
    people = sorted(set(identities))
    enrolled = set(rng.permutation(people)[: len(people) // 2].tolist())
    gallery: list[int] = []
    seen: set[str] = set()
    for i, person in enumerate(identities):
        if person in enrolled and person not in seen and acquired[i]:
            gallery.append(i)
            seen.add(person)
    in_gallery = set(gallery)
    probes = [i for i in range(len(identities)) if i not in in_gallery]
    truth = [identities[i] if identities[i] in seen else None for i in probes]
    return np.array(gallery, dtype=np.int64), np.array(probes, dtype=np.int64), truth


def identification(
    manifest: Manifest, embedded: Embedded, by: list[str], threshold: float, seed: int, scorer: Scorer
) -> Any:
    """1:N metrics on a seeded gallery/probe split, with the same score normalisation as 1:1."""
    gallery, probes, truth = identification_split(manifest.identities, embedded.acquired, seed)
    if len(gallery) == 0 or len(probes) == 0:
        return None
    means, stds = scorer_stats(embedded, scorer)
    scores = scorer.normalise(
        embedded.vectors[probes] @ embedded.vectors[gallery].T,
        means[probes][:, None],
        stds[probes][:, None],
        means[gallery][None, :],
        stds[gallery][None, :],
    )
    groups = manifest.groups(by)
    return identification_metrics(
        scores,
        [manifest.identities[g] for g in gallery],
        truth,
        threshold=threshold,
        groups=None if groups is None else [groups[p] for p in probes],
    )


def evaluate_variant(
    score_set: ScoreSet,
    *,
    threshold: float | None,
    target_fmr: float | None,
    seed: int,
    n_bootstrap: int,
    progress: Any = None,
) -> dict[str, Any]:
    return build_metrics(
        score_set, threshold=threshold, target_fmr=target_fmr, seed=seed, n_bootstrap=n_bootstrap, progress=progress
    )


def native_variant(
    manifest: Manifest, embedded: Embedded, scored: Scored, by: list[str], *, seed: int, n_bootstrap: int
) -> dict[str, Any] | None:
    """The model author's customary operating point (dlib: distance 0.6), for comparison only."""
    if not embedded.model.startswith("dlib") or not np.any(embedded.norms > 0):
        return None
    scores = native_distance_scores(embedded, scored.pairs, scored.cosine)
    ss = score_set_from_pairs(scores, scored.pairs, manifest.identities, manifest.groups(by))
    metrics = build_metrics(ss, threshold=-DLIB_CUSTOMARY_DISTANCE, seed=seed, n_bootstrap=n_bootstrap)
    metrics["settings"]["threshold_source"] = "customary"  # the model author's convention, not the operator's
    return metrics
