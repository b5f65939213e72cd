"""Alignment: a similarity transform from the landmarks to a canonical chip."""

from __future__ import annotations

import cv2
import numpy as np

from .types import Face

# ArcFace's 112x112 reference points (eye centres, nose tip, mouth corners), the de-facto standard chip.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def _points_used(face: Face) -> np.ndarray:
    """Only measured points: an estimated point adds no information and can only pull the fit off."""
    return np.array([i for i in range(5) if i not in face.estimated])


def align(image: np.ndarray, face: Face, size: int = 112) -> np.ndarray:
    """Warp the face to a `size`x`size` chip with eyes and nose at the ArcFace positions."""
    idx = _points_used(face)
    reference = ARCFACE_112[idx] * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(face.landmarks[idx], reference, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the box
        x, y, w, h = face.box
        matrix = np.array([[size / w, 0, -x * size / w], [0, size / h, -y * size / h]], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
