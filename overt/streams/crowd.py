"""Synthetic crowd photos with ground-truth boxes: many small faces, as a public-space camera sees them.

Real, consented portraits are cut out (as for the stream scenes in synthetic.py) and composited at
24-120 px onto background photos that have no faces, in non-overlapping slots, then the frame gets
sensor noise and JPEG compression. The boxes are in dlib HOG's box convention (the cut-outs are made
with the HOG detector), which is the convention every Overt detector reports.

Used by the detection tests (a few scenes from the repo's own faces) and bench/detect.py (many scenes
from ../shared/data), which scores recall and false positives per face size with `score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from overt.engine import EngineConfig, FaceEngine

from .synthetic import _CutOut, _fit_background, _paste, cut_out

SIZE_BINS = (24, 32, 48, 64, 96, 121)  # face widths (px): [24, 32), [32, 48), ... [96, 120]
MATCH_IOU = 0.4  # a detection counts for a face when the boxes overlap this much (IoU)


@dataclass
class CrowdImage:
    """One composited frame and the faces in it, boxes as (x, y, w, h)."""

    name: str
    image: np.ndarray
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)


def cut_outs(photos: Sequence[tuple[str, Path]]) -> list[tuple[str, _CutOut]]:
    """Cut-outs of the largest face of each (identity, photo), found with dlib HOG for its box convention."""
    engine = FaceEngine(EngineConfig(detector="hog"))
    return [(identity, cut_out(photo, engine)) for identity, photo in photos]


def crowd_image(
    name: str,
    background: str | Path | np.ndarray,
    people: Sequence[tuple[str, _CutOut]],
    rng: np.random.Generator,
    size: tuple[int, int] = (1280, 720),
    faces: int = 12,
    face_px: tuple[float, float] = (24.0, 120.0),
    jpeg_quality: int = 80,
) -> CrowdImage:
    """One frame with `faces` people at sizes drawn log-uniformly from `face_px`, none overlapping."""
    canvas = _fit_background(background, size).copy()
    scene = CrowdImage(name, canvas)
    taken: list[tuple[float, float, float, float]] = []
    for _ in range(faces):
        identity, cut = people[int(rng.integers(len(people)))]
        px = float(np.exp(rng.uniform(np.log(face_px[0]), np.log(face_px[1]))))
        for _attempt in range(30):  # a free slot: the cut-out (hair and chin too) must not cover another face
            cx = float(rng.uniform(px, size[0] - px))
            cy = float(rng.uniform(px, size[1] - px))
            reach = (cx - px, cy - 1.1 * px, cx + px, cy + 1.1 * px)
            if all(reach[2] < t[0] or reach[0] > t[2] or reach[3] < t[1] or reach[1] > t[3] for t in taken):
                break
        else:
            continue
        taken.append(reach)
        box = _paste(canvas, cut, (cx, cy), px * cut.face[3] / cut.face[2])
        scene.boxes.append(box)
        scene.identities.append(identity)
    noise = rng.normal(0, 2.5, canvas.shape)
    noisy = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    assert ok
    scene.image = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return scene


def crowd_set(
    photos: Sequence[tuple[str, Path]],
    backgrounds: Sequence[Path],
    count: int,
    seed: int = 0,
    size: tuple[int, int] = (1280, 720),
    faces: int = 12,
) -> list[CrowdImage]:
    """`count` frames cycling through the backgrounds; the same arguments always give the same frames."""
    rng = np.random.default_rng(seed)
    people = cut_outs(photos)
    return [crowd_image(f"crowd-{i:03d}", backgrounds[i % len(backgrounds)], people, rng, size, faces)
            for i in range(count)]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class DetectionScore:
    """Recall per face-size bin and false positives, summed over images."""

    found: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    false_positives: int = 0
    images: int = 0

    def add(self, truth: Sequence[Sequence[float]], detected: Sequence[Sequence[float]]) -> None:
        """Greedy one-to-one matching, best overlap first; unmatched detections are false positives."""
        self.images += 1
        pairs = sorted(((box_iou(t, d), i, j) for i, t in enumerate(truth) for j, d in enumerate(detected)),
                       reverse=True)
        matched_t: set[int] = set()
        matched_d: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < MATCH_IOU:
                break
            if i not in matched_t and j not in matched_d:
                matched_t.add(i)
                matched_d.add(j)
        for i, box in enumerate(truth):
            label = size_bin(box[2])
            self.total[label] = self.total.get(label, 0) + 1
            self.found[label] = self.found.get(label, 0) + (i in matched_t)
        self.false_positives += len(detected) - len(matched_d)

    def recall(self, min_px: float = 0.0) -> float:
        """Recall over the bins whose lower edge is at least `min_px`."""
        labels = [label for label in self.total if float(label.split("-")[0]) >= min_px]
        total = sum(self.total[label] for label in labels)
        return sum(self.found[label] for label in labels) / total if total else float("nan")

    def to_json(self) -> dict:
        bins = sorted(self.total, key=lambda label: float(label.split("-")[0]))
        return {
            "images": self.images,
            "faces": sum(self.total.values()),
            "recall_by_width": {label: round(self.found[label] / self.total[label], 4) for label in bins},
            "faces_by_width": {label: self.total[label] for label in bins},
            "recall_32px_up": round(self.recall(32), 4),
            "false_positives": self.false_positives,
            "false_positives_per_image": round(self.false_positives / max(self.images, 1), 3),
        }


def size_bin(width: float) -> str:
    """The bin's label, "low-high" in pixels; faces outside the bins go to the first or the last."""
    for low, high in zip(SIZE_BINS, SIZE_BINS[1:], strict=False):
        if width < high:
            return f"{low}-{high - 1}"
    return f"{SIZE_BINS[-2]}-{SIZE_BINS[-1] - 1}"
