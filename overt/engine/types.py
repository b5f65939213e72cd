"""Plain data passed between engine stages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Face:
    """One detected face, in the coordinates of the image it was found in.

    `landmarks` holds five points: the centres of the subject's right and left eyes (image left first),
    the nose, and the right and left mouth corners. `estimated` lists the rows that were estimated
    rather than measured (dlib's 5-point model has no mouth: the corners are placed from the face's
    geometry). `confidence` is the detector's own score, higher meaning surer; it is a probability
    for BlazeFace and an SVM/CNN margin for dlib's detectors.
    """

    box: tuple[int, int, int, int]  # x, y, w, h
    confidence: float
    landmarks: np.ndarray  # (5, 2) float32
    detector: str
    raw_points: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 2), np.float32))
    estimated: tuple[int, ...] = ()  # rows of `landmarks` that are estimated, not measured

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    @property
    def inter_eye(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def to_json(self) -> dict:
        return {
            "box": [int(v) for v in self.box],
            "confidence": round(float(self.confidence), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "estimated_landmarks": list(self.estimated),
        }


@dataclass(frozen=True)
class Quality:
    """How fit a face is for recognition; `reasons` says why the score is low."""

    score: float
    inter_eye: float
    sharpness: float
    brightness: float
    yaw: float
    roll: float
    reasons: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
            "inter_eye": round(self.inter_eye, 1),
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "yaw": round(self.yaw, 1),
            "roll": round(self.roll, 1),
        }


@dataclass(frozen=True)
class Embedding:
    """A unit-length template and the model that made it; templates of different models never compare."""

    vector: np.ndarray  # (d,) float32, L2-normalised
    model: str
    norm: float = 1.0  # the model's raw vector length, so a model's native distance stays recoverable


@dataclass(frozen=True)
class Comparison:
    """A 1:1 decision and everything needed to reproduce it."""

    score: float
    match: bool
    threshold: float
    model: str
    calibration: str
    raw_score: float = 0.0
    normalisation: str = "raw"

    def to_json(self) -> dict:
        return {
            "score": round(self.score, 4),
            "raw_score": round(self.raw_score, 4),
            "normalisation": self.normalisation,
            "match": self.match,
            "threshold": self.threshold,
            "model": self.model,
            "calibration": self.calibration,
        }
