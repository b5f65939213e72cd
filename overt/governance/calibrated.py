"""The calibration in force, as the gate needs it: the default threshold, the score range it lives in, and
the versions (model, calibration file, cohort) an approval pins."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .permissions import Refused


@dataclass(frozen=True)
class Calibrated:
    threshold: float
    low: float
    high: float
    model: str
    calibration_sha256: str
    cohort_sha256: str | None

    def identity(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "calibration_sha256": self.calibration_sha256,
            "cohort_sha256": self.cohort_sha256,
            "calibrated_threshold": self.threshold,
        }

    def check(self, threshold: float, *, floor: float | None = None) -> None:
        """Refuse (rule `threshold`) a threshold that is not finite, outside the score range, or below
        `floor` (the calibrated default unless given)."""
        if not math.isfinite(threshold):
            raise Refused("threshold", f"threshold {threshold} is not a finite number")
        if not self.low <= threshold <= self.high:
            raise Refused("threshold", f"threshold {threshold} is outside the score range [{self.low}, {self.high}]")
        floor = self.threshold if floor is None else floor
        if threshold < floor:
            raise Refused("threshold", f"threshold {threshold} is below the calibrated {floor:.4f}")
