"""Degrade studio portraits the way surveillance cameras degrade faces, to price accuracy on hard images.

Studio photos flatter every model; a live camera sees small, blurred, compressed, tilted and badly lit
faces. Each degradation is deterministic so a result can be reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Degradation:
    name: str
    description: str
    apply: Callable[[np.ndarray, float], np.ndarray]  # (RGB image, inter-eye px) -> RGB image


def _to_inter_eye(image: np.ndarray, inter_eye: float, target: float) -> np.ndarray:
    scale = min(1.0, target / max(inter_eye, 1.0))
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _exposure(image: np.ndarray, gain: float, gamma: float) -> np.ndarray:
    scaled = np.clip(((image / 255.0) ** gamma) * gain, 0, 1)
    return (scaled * 255 + 0.5).astype(np.uint8)


DEGRADATIONS: tuple[Degradation, ...] = (
    Degradation("eyes-80px", "downscaled to 80 px between the eyes", lambda im, e: _to_inter_eye(im, e, 80)),
    Degradation("eyes-60px", "downscaled to 60 px between the eyes", lambda im, e: _to_inter_eye(im, e, 60)),
    Degradation("eyes-40px", "downscaled to 40 px between the eyes", lambda im, e: _to_inter_eye(im, e, 40)),
    Degradation(
        "blur",
        "60 px between the eyes, Gaussian blur sigma 1.5",
        lambda im, e: cv2.GaussianBlur(_to_inter_eye(im, e, 60), (0, 0), 1.5),
    ),
    Degradation(
        "jpeg-q15", "60 px between the eyes, JPEG quality 15", lambda im, e: _jpeg(_to_inter_eye(im, e, 60), 15)
    ),
    Degradation("rotated-15", "rotated 15 degrees in plane", lambda im, e: _rotate(im, 15)),
    Degradation("under-exposed", "gain 0.35, gamma 1.6", lambda im, e: _exposure(im, 0.35, 1.6)),
    Degradation("over-exposed", "gain 1.8, gamma 0.7", lambda im, e: _exposure(im, 1.8, 0.7)),
    Degradation(
        "camera",
        "60 px between the eyes, blur sigma 1, JPEG quality 40, rotated 8 degrees",
        lambda im, e: _jpeg(cv2.GaussianBlur(_rotate(_to_inter_eye(im, e, 60), 8), (0, 0), 1.0), 40),
    ),
)
