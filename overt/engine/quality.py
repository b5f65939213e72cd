"""Face quality from the landmarks and the aligned chip: enough pixels, in focus, lit, frontal.

Thresholds follow common practice for enrolment photos (ISO/IEC 19794-5 asks for 60+ px between
the eyes; we accept less but say so). The score is the weakest component, so one bad property
cannot be averaged away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .types import Face, Quality


@dataclass(frozen=True)
class QualityLimits:
    min_inter_eye: float = 30.0  # pixels between eye centres
    good_inter_eye: float = 60.0
    min_sharpness: float = 40.0  # variance of the Laplacian on the 112 px chip
    dark: float = 50.0  # mean grey level of the chip
    bright: float = 210.0
    max_yaw: float = 30.0  # degrees
    max_roll: float = 25.0


def estimate_pose(face: Face) -> tuple[float, float]:
    """Yaw from the nose's offset from the eyes' midpoint, roll from the eye line (degrees)."""
    left, right, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    eye_vec = right - left
    inter_eye = float(np.linalg.norm(eye_vec)) or 1.0
    roll = math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0])))
    unit = eye_vec / inter_eye
    offset = float(np.dot(nose - (left + right) / 2, unit)) / inter_eye
    # a frontal nose sits on the midline; half an inter-eye distance off is roughly 45-60 degrees of yaw
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, 2 * offset))))
    return yaw, roll


def _ramp(value: float, bad: float, good: float) -> float:
    if good == bad:
        return 1.0
    return float(min(1.0, max(0.0, (value - bad) / (good - bad))))


def assess(face: Face, chip: np.ndarray, limits: QualityLimits | None = None) -> Quality:
    """Score one face; `chip` is its aligned crop (any size, RGB)."""
    limits = limits or QualityLimits()
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != 112:
        grey = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA)
    centre = grey[16:96, 16:96]
    sharpness = float(cv2.Laplacian(centre, cv2.CV_64F).var())
    brightness = float(centre.mean())
    yaw, roll = estimate_pose(face)
    inter_eye = face.inter_eye

    parts = {
        "size": _ramp(inter_eye, limits.min_inter_eye / 2, limits.good_inter_eye),
        "sharpness": _ramp(sharpness, limits.min_sharpness / 4, limits.min_sharpness * 2),
        "exposure": min(
            _ramp(brightness, limits.dark / 2, limits.dark * 1.4), _ramp(-brightness, -255, -limits.bright)
        ),
        "pose": min(
            _ramp(-abs(yaw), -limits.max_yaw * 1.5, -limits.max_yaw / 2),
            _ramp(-abs(roll), -limits.max_roll * 1.5, -limits.max_roll / 2),
        ),
    }
    reasons = []
    if inter_eye < limits.min_inter_eye:
        reasons.append(f"small face: {inter_eye:.0f} px between the eyes (< {limits.min_inter_eye:.0f})")
    if sharpness < limits.min_sharpness:
        reasons.append(f"blurred: sharpness {sharpness:.0f} (< {limits.min_sharpness:.0f})")
    if brightness < limits.dark:
        reasons.append(f"under-exposed: brightness {brightness:.0f} (< {limits.dark:.0f})")
    if brightness > limits.bright:
        reasons.append(f"over-exposed: brightness {brightness:.0f} (> {limits.bright:.0f})")
    if abs(yaw) > limits.max_yaw:
        reasons.append(f"turned away: yaw about {yaw:.0f} degrees")
    if abs(roll) > limits.max_roll:
        reasons.append(f"tilted: roll about {roll:.0f} degrees")
    return Quality(
        score=float(min(parts.values())),
        inter_eye=inter_eye,
        sharpness=sharpness,
        brightness=brightness,
        yaw=yaw,
        roll=roll,
        reasons=tuple(reasons),
    )
