"""Face detectors. Each detects on a copy scaled to its working size and maps boxes back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import cv2
import dlib
import numpy as np

from .models import dlib_model_path
from .types import Face

# dlib's HOG and MMOD detectors both use an 80x80 pixel window.
DETECTOR_WINDOW = 80


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Face]: ...


@dataclass(frozen=True)
class DetectorSettings:
    """`min_face` is the smallest face (pixels, original image) to find; `max_side` caps the working size."""

    min_face: int = 80
    max_side: int = 1600
    min_confidence: float = 0.0


def working_scale(shape: tuple[int, ...], settings: DetectorSettings) -> float:
    """Scale so that a `min_face` face fills the detector window, unless that exceeds `max_side`."""
    height, width = shape[:2]
    scale = DETECTOR_WINDOW / max(settings.min_face, 1)
    return min(scale, settings.max_side / max(height, width))


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return image
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)


class _DlibDetector(ABC):
    """Shared by HOG and MMOD: detect on the scaled copy, then landmarks on the full-resolution image."""

    name = "dlib"

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._predictor = dlib.shape_predictor(str(dlib_model_path("landmarks5")))

    @abstractmethod
    def _find(self, small: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        """Boxes and scores in the scaled copy."""

    def detect(self, image: np.ndarray) -> list[Face]:
        scale = working_scale(image.shape, self.settings)
        small = _resize(image, scale)
        faces = []
        height, width = image.shape[:2]
        for rect, score in self._find(small):
            if score < self.settings.min_confidence:
                continue
            left = max(0, int(round(rect.left() / scale)))
            top = max(0, int(round(rect.top() / scale)))
            right = min(width, int(round((rect.right() + 1) / scale)))
            bottom = min(height, int(round((rect.bottom() + 1) / scale)))
            if right - left < 2 or bottom - top < 2:
                continue
            full_rect = dlib.rectangle(left, top, right - 1, bottom - 1)
            shape = self._predictor(image, full_rect)
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            faces.append(
                Face(
                    box=(left, top, right - left, bottom - top),
                    confidence=float(score),
                    landmarks=five_points(points),
                    detector=self.name,
                    raw_points=points,
                )
            )
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces


def five_points(dlib5: np.ndarray) -> np.ndarray:
    """dlib's 5-point layout (two corners per eye, nose base) to eye centres + nose, image-left eye first."""
    eye_a = dlib5[0:2].mean(axis=0)
    eye_b = dlib5[2:4].mean(axis=0)
    left, right = (eye_a, eye_b) if eye_a[0] <= eye_b[0] else (eye_b, eye_a)
    nose = dlib5[4]
    return np.stack([left, right, nose, nose, nose]).astype(np.float32)


class HogDetector(_DlibDetector):
    """dlib's HOG + linear SVM: fast on a CPU, frontal faces of 80 px or more in the working copy."""

    name = "dlib-hog"

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        super().__init__(settings)
        self._detector = dlib.get_frontal_face_detector()

    def _find(self, small: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        rects, scores, _ = self._detector.run(small, 0, 0.0)
        return list(zip(rects, scores, strict=True))


class CnnDetector(_DlibDetector):
    """dlib's MMOD CNN: finds turned and small faces HOG misses, about 2 s a frame on a CPU."""

    name = "dlib-cnn"

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        super().__init__(settings)
        self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model_path("cnn")))

    def _find(self, small: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        return [(d.rect, d.confidence) for d in self._detector(small, 0)]


DETECTORS: dict[str, type[_DlibDetector]] = {"hog": HogDetector, "cnn": CnnDetector}
