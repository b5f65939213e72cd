"""Face detectors. Each detects on copies scaled to its working size, maps boxes back, then finds landmarks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import cv2
import dlib
import numpy as np

from .blazeface import FULL_RANGE, SHORT_RANGE, BlazeNet, Detections, confirm, detect_pyramid, detect_tiles
from .models import dlib_model_path
from .types import Face

# dlib's HOG and MMOD detectors both use an 80x80 pixel window.
DETECTOR_WINDOW = 80


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Face]: ...


@dataclass(frozen=True)
class DetectorSettings:
    """`min_face` is the smallest face (box width, pixels, original image) to find; `max_side` caps the working size.

    32 px is the default: BlazeFace finds such faces at a few ms a frame (dlib HOG needs 2.5x upsampling
    for them and becomes slow: give it min_face=80 or more).
    """

    min_face: int = 32
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


class _DlibLandmarks:
    """dlib's 5-point landmarks, run on the full-resolution image inside each detector's box."""

    name = "dlib"

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._predictor = dlib.shape_predictor(str(dlib_model_path("landmarks5")))

    def _face(self, image: np.ndarray, box: tuple[float, float, float, float], score: float,
              mouth: np.ndarray | None = None) -> Face | None:
        """A Face from a box (x0, y0, x1, y1, original pixels), or None when it is degenerate."""
        height, width = image.shape[:2]
        left, top = max(0, int(round(box[0]))), max(0, int(round(box[1])))
        right, bottom = min(width, int(round(box[2]))), min(height, int(round(box[3])))
        if right - left < 2 or bottom - top < 2:
            return None
        shape = self._predictor(image, dlib.rectangle(left, top, right - 1, bottom - 1))
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        return Face(
            box=(left, top, right - left, bottom - top),
            confidence=float(score),
            landmarks=five_points(points, mouth),
            detector=self.name,
            raw_points=points,
            estimated=ESTIMATED_MOUTH,
        )


class _DlibDetector(_DlibLandmarks, ABC):
    """Shared by HOG and MMOD: detect on the scaled copy, then landmarks on the full-resolution image."""

    @abstractmethod
    def _find(self, small: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        """Boxes and scores in the scaled copy."""

    def detect(self, image: np.ndarray) -> list[Face]:
        scale = working_scale(image.shape, self.settings)
        small = _resize(image, scale)
        faces = []
        for rect, score in self._find(small):
            if score < self.settings.min_confidence:
                continue
            box = (rect.left() / scale, rect.top() / scale, (rect.right() + 1) / scale, (rect.bottom() + 1) / scale)
            face = self._face(image, box, score)
            if face is not None:
                faces.append(face)
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces


# Rows 3 and 4 (mouth corners) are estimated, not measured: dlib's 5-point model has no mouth, and
# BlazeFace gives only the mouth's centre. Alignment uses only measured points.
ESTIMATED_MOUTH = (3, 4)
# The ArcFace reference: the mouth centre sits 1.02 eye-to-nose drops below the nose, and the mouth is
# 0.83 inter-eye distances wide.
MOUTH_DROP = 1.02
MOUTH_HALF_WIDTH = 0.415


def five_points(dlib5: np.ndarray, mouth: np.ndarray | None = None) -> np.ndarray:
    """dlib's 5-point layout (two corners per eye, nose base) to eye centres, nose and mouth corners.

    The eyes come first, image-left eye first. The mouth corners are estimated from the mouth centre
    (the detector's keypoint when it has one, else extrapolated from the eyes and nose) along the eye line.
    """
    eye_a = dlib5[0:2].mean(axis=0)
    eye_b = dlib5[2:4].mean(axis=0)
    left, right = (eye_a, eye_b) if eye_a[0] <= eye_b[0] else (eye_b, eye_a)
    nose = dlib5[4]
    if mouth is None:
        mouth = nose + MOUTH_DROP * (nose - (left + right) / 2)
    half = MOUTH_HALF_WIDTH * (right - left)
    return np.stack([left, right, nose, mouth - half, mouth + half]).astype(np.float32)


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


class BlazeFaceDetector(_DlibLandmarks):
    """MediaPipe's BlazeFace under LiteRT (see blazeface.py), then dlib's 5-point landmarks in its box.

    `settings.min_face` sets the pyramid's first level; `settings.min_confidence` (a probability here)
    raises the score threshold above the default.
    """

    model = SHORT_RANGE
    # Chosen by bench/detect.py: at MediaPipe's 0.5 the short-range model alone gave ~2 false positives
    # a crowd frame and ~1.6 per background photo; detections under `sure` get a second look by the
    # full-range model, which removes nearly all of them at no loss of recall.
    threshold = 0.5
    sure = 0.75

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        super().__init__(settings)
        self.name = self.model.name
        self._net = BlazeNet(self.model)
        self._second = BlazeNet(FULL_RANGE)

    def _detections(self, image: np.ndarray, threshold: float) -> Detections:
        found = detect_pyramid(self._net, image, self.settings.min_face, self.settings.max_side, threshold)
        return confirm(self._second, image, found, self.sure, self.threshold)

    def detect(self, image: np.ndarray) -> list[Face]:
        found = self._detections(image, max(self.threshold, self.settings.min_confidence))
        faces = []
        for box, points, score in zip(found.boxes, found.keypoints, found.scores, strict=True):
            width = (box[2] - box[0]) * self.model.box_scale
            cx = (box[0] + box[2]) / 2
            cy = (box[1] + box[3]) / 2 + self.model.box_dy * (box[2] - box[0])
            face = self._face(image, (cx - width / 2, cy - width / 2, cx + width / 2, cy + width / 2), float(score),
                              mouth=points[3])
            if face is not None:
                faces.append(face)
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces


class BlazeFaceFullDetector(BlazeFaceDetector):
    """The full-range model (fixed 192 px input) on overlapping tiles: measured slower for the same recall."""

    model = FULL_RANGE
    threshold = 0.5

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        _DlibLandmarks.__init__(self, settings)
        self.name = self.model.name
        self._net = BlazeNet(self.model)

    def _detections(self, image: np.ndarray, threshold: float) -> Detections:
        return detect_tiles(self._net, image, self.settings.min_face, self.settings.max_side, threshold)


DETECTORS: dict[str, type[_DlibLandmarks]] = {
    "blazeface": BlazeFaceDetector,
    "blazeface-full": BlazeFaceFullDetector,
    "hog": HogDetector,
    "cnn": CnnDetector,
}
