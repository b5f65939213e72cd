"""1:1 comparison: cosine similarity of unit templates, normalised as calibrated, against its threshold."""

from __future__ import annotations

import numpy as np

from .calibration import Calibration
from .cohort import Scorer
from .errors import ModelError
from .types import Comparison, Embedding


def similarity(a: Embedding, b: Embedding) -> float:
    """Cosine similarity in [-1, 1]; refuses to compare templates of different models."""
    if a.model != b.model:
        raise ModelError(f"cannot compare templates of different models ({a.model} vs {b.model})")
    return float(np.dot(a.vector, b.vector))


def check_scorer(calibration: Calibration, scorer: Scorer) -> None:
    """A threshold is only meaningful for the score it was calibrated on."""
    wanted = calibration.normalisation.get("kind", "raw")
    if wanted != scorer.kind:
        raise ModelError(f"the calibration is for {wanted} scores but the scorer gives {scorer.kind} scores")
    expected = calibration.normalisation.get("cohort_sha256")
    if scorer.cohort is not None and expected and expected != scorer.cohort.sha256:
        raise ModelError("the calibration was made with a different cohort: re-calibrate (overt evaluate --calibrate)")


def compare(a: Embedding, b: Embedding, calibration: Calibration, scorer: Scorer | None = None) -> Comparison:
    if calibration.model != a.model:
        raise ModelError(f"calibration is for {calibration.model}, templates are {a.model}")
    scorer = scorer or Scorer()
    check_scorer(calibration, scorer)
    raw = similarity(a, b)
    (mean_a,), (std_a,) = scorer.stats(a.vector)
    (mean_b,), (std_b,) = scorer.stats(b.vector)
    score = float(scorer.normalise(raw, mean_a, std_a, mean_b, std_b))
    return Comparison(
        score=score,
        match=score >= calibration.threshold,
        threshold=calibration.threshold,
        model=a.model,
        calibration=calibration.label,
        raw_score=raw,
        normalisation=scorer.kind,
    )
