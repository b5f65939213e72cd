"""1:1 comparison: cosine similarity of unit templates, decided against a calibrated threshold."""

from __future__ import annotations

import numpy as np

from .calibration import Calibration
from .errors import ModelError
from .types import Comparison, Embedding


def similarity(a: Embedding, b: Embedding) -> float:
    """Cosine similarity in [-1, 1]; refuses to compare templates of different models."""
    if a.model != b.model:
        raise ModelError(f"cannot compare templates of different models ({a.model} vs {b.model})")
    return float(np.dot(a.vector, b.vector))


def compare(a: Embedding, b: Embedding, calibration: Calibration) -> Comparison:
    if calibration.model != a.model:
        raise ModelError(f"calibration is for {calibration.model}, templates are {a.model}")
    score = similarity(a, b)
    return Comparison(
        score=score,
        match=score >= calibration.threshold,
        threshold=calibration.threshold,
        model=a.model,
        calibration=calibration.label,
    )
