"""Synthetic camera scenes: real, consented face photos moving over real backgrounds, with ground truth.

Stream tests, the demo camera and the streams benchmark need video whose every face is known:
who, where and in which frames. Each face is cut out of its portrait around the detected face with
a feathered ellipse, scaled and moved along a straight path (entering and leaving the frame when
the path starts or ends outside it), and composited onto a background photo.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from overt.engine import FaceEngine, load_image

# The cut-out around a detected face box, in face-box units: wide enough for hair and chin.
CUT_WIDTH = 1.6
CUT_HEIGHT = 2.0
CUT_RAISE = 0.12  # the cut-out's centre sits this far above the face box's centre (hair > neck)

# Encoder per container: what cameras send (H.264), what the web sends (VP9), and Motion JPEG.
CODECS = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9", ".avi": "mjpeg"}
CODEC_OPTIONS = {
    "libx264": {"preset": "veryfast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"},
    "mjpeg": {"q": "3"},
}


@dataclass(frozen=True)
class PersonSpec:
    """One person crossing the scene.

    Positions are the face centre as fractions of the frame (values outside 0..1 are off-screen, so a
    path from x=-0.1 to x=1.1 enters on the left and leaves on the right). `face_px` is the face box
    height in pixels at `enter_s` and at `leave_s`; it changes linearly in between (walking towards or
    away from the camera).
    """

    photo: Path
    identity: str
    enter_s: float
    leave_s: float
    start: tuple[float, float] = (-0.1, 0.5)
    end: tuple[float, float] = (1.1, 0.5)
    face_px: tuple[float, float] = (140.0, 140.0)

    def at(self, t: float) -> tuple[float, float, float] | None:
        """Face centre (fractions) and face height (px) at time `t`, or None when not in the scene."""
        if not self.enter_s <= t <= self.leave_s:
            return None
        u = (t - self.enter_s) / max(self.leave_s - self.enter_s, 1e-9)
        x = self.start[0] + u * (self.end[0] - self.start[0])
        y = self.start[1] + u * (self.end[1] - self.start[1])
        return x, y, self.face_px[0] + u * (self.face_px[1] - self.face_px[0])


@dataclass(frozen=True)
class FaceTruth:
    """Where one person's face is in one frame: the box clipped to the frame and how much of it is inside.

    `visible` ignores people in front: crossing paths occlude one another, as in a real scene.
    """

    identity: str
    person: int  # index into GroundTruth.people
    box: tuple[int, int, int, int]  # x, y, w, h, clipped to the frame
    visible: float  # fraction of the face box inside the frame


@dataclass(frozen=True)
class Appearance:
    """One continuous stretch of frames in which a person's face is (at least partly) visible."""

    identity: str
    person: int
    first_frame: int
    last_frame: int


@dataclass
class GroundTruth:
    """Everything a test or benchmark needs to score a pipeline run on the video."""

    path: Path
    size: tuple[int, int]  # width, height
    fps: float
    people: list[PersonSpec]
    frames: list[list[FaceTruth]] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    def appearances(self, min_visible: float = 1.0) -> list[Appearance]:
        """Stretches of frames where each person's face is at least `min_visible` inside the frame."""
        spans: dict[int, Appearance] = {}
        found: list[Appearance] = []
        for index, faces in enumerate(self.frames):
            present = {f.person for f in faces if f.visible >= min_visible}
            for person in present:
                span = spans.get(person)
                if span is not None and span.last_frame == index - 1:
                    spans[person] = Appearance(span.identity, person, span.first_frame, index)
                else:
                    if span is not None:
                        found.append(span)
                    spans[person] = Appearance(self.people[person].identity, person, index, index)
        found.extend(spans.values())
        return sorted(found, key=lambda a: (a.first_frame, a.person))

    def faces_per_frame(self, min_visible: float = 1.0) -> float:
        """Mean number of fully visible faces per frame."""
        counts = [sum(f.visible >= min_visible for f in faces) for faces in self.frames]
        return float(np.mean(counts)) if counts else 0.0

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "size": list(self.size),
            "fps": self.fps,
            "frame_count": self.frame_count,
            "people": [{"identity": p.identity, "photo": str(p.photo), "enter_s": p.enter_s,
                        "leave_s": p.leave_s} for p in self.people],
            "appearances": [a.__dict__ for a in self.appearances()],
        }


@dataclass(frozen=True)
class _CutOut:
    """A face photo's cut-out: pixels, feathered alpha and the face box inside it."""

    rgb: np.ndarray  # (h, w, 3) uint8
    alpha: np.ndarray  # (h, w) float32 in 0..1
    face: tuple[float, float, float, float]  # x, y, w, h of the face box within the cut-out


def london_faces(data_dir: str | Path, expression: str = "neutral") -> list[tuple[str, Path]]:
    """(identity, photo) for every London set portrait with the given expression (neutral, smiling)."""
    faces_dir = Path(data_dir) / "faces"
    with open(faces_dir / "labels.csv", newline="") as handle:
        return [
            (row["identity"], faces_dir / row["path"])
            for row in csv.DictReader(handle)
            if row["subset"] == "london" and row["expression"] == expression
        ]


def cut_out(photo: str | Path, engine: FaceEngine) -> _CutOut:
    """Cut the largest face of a portrait out with a feathered elliptical edge."""
    image = load_image(photo)
    faces = engine.detect(image)
    if not faces:
        raise ValueError(f"{photo}: no face found to cut out")
    x, y, w, h = faces[0].box
    cw, ch = w * CUT_WIDTH, h * CUT_HEIGHT
    cx, cy = x + w / 2, y + h / 2 - CUT_RAISE * h
    left, top = int(round(cx - cw / 2)), int(round(cy - ch / 2))
    right, bottom = int(round(cx + cw / 2)), int(round(cy + ch / 2))
    padded = cv2.copyMakeBorder(
        image, max(0, -top), max(0, bottom - image.shape[0]), max(0, -left), max(0, right - image.shape[1]),
        cv2.BORDER_REPLICATE,
    )
    ox, oy = max(0, -left), max(0, -top)
    rgb = padded[top + oy:bottom + oy, left + ox:right + ox].copy()
    mask = np.zeros(rgb.shape[:2], np.float32)
    axes = (int(rgb.shape[1] * 0.40), int(rgb.shape[0] * 0.46))
    cv2.ellipse(mask, (rgb.shape[1] // 2, rgb.shape[0] // 2), axes, 0, 0, 360, 1.0, -1)
    feather = max(3, int(min(axes) * 0.18)) | 1
    alpha = cv2.GaussianBlur(mask, (0, 0), feather / 2)
    return _CutOut(rgb, alpha, (x - left, y - top, w, h))


def _fit_background(background: str | Path | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop the background to cover `size` (width, height)."""
    image = background if isinstance(background, np.ndarray) else load_image(background)
    width, height = size
    scale = max(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale))),
                         interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def _paste(
    canvas: np.ndarray, cut: _CutOut, centre: tuple[float, float], face_px: float
) -> tuple[float, float, float, float]:
    """Composite `cut` with its face `face_px` tall, centred at `centre` (pixels); returns the face box."""
    scale = face_px / cut.face[3]
    w = max(2, int(round(cut.rgb.shape[1] * scale)))
    h = max(2, int(round(cut.rgb.shape[0] * scale)))
    fx, fy, fw, fh = (v * scale for v in cut.face)
    left = int(round(centre[0] - fx - fw / 2))
    top = int(round(centre[1] - fy - fh / 2))
    box = (left + fx, top + fy, fw, fh)
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(canvas.shape[1], left + w), min(canvas.shape[0], top + h)
    if x1 <= x0 or y1 <= y0:
        return box
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(cut.rgb, (w, h), interpolation=interp)[y0 - top:y1 - top, x0 - left:x1 - left]
    alpha = cv2.resize(cut.alpha, (w, h), interpolation=interp)[y0 - top:y1 - top, x0 - left:x1 - left, None]
    region = canvas[y0:y1, x0:x1]
    region[:] = (rgb * alpha + region * (1.0 - alpha)).astype(np.uint8)
    return box


def _clip(box: tuple[float, ...], size: tuple[int, int]) -> tuple[tuple[int, int, int, int], float]:
    x, y, w, h = box
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(size[0]), x + w), min(float(size[1]), y + h)
    if x1 <= x0 or y1 <= y0:
        return (0, 0, 0, 0), 0.0
    visible = (x1 - x0) * (y1 - y0) / max(w * h, 1e-9)
    clipped = (int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)))
    return clipped, round(float(visible), 4)


class VideoWriter:
    """RGB frames to a video file with PyAV; the codec follows the file's extension (see CODECS)."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float) -> None:
        self.path = Path(path)
        codec = CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise ValueError(f"{self.path.name}: unsupported video type (use one of {', '.join(CODECS)})")
        self._container = av.open(str(self.path), "w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        self._stream.options = dict(CODEC_OPTIONS[codec])
        if codec != "mjpeg":
            self._stream.codec_context.gop_size = max(1, int(round(2 * fps)))  # a keyframe every 2 s

    def write(self, rgb: np.ndarray) -> None:
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_scene_video(
    path: str | Path,
    people: Sequence[PersonSpec],
    background: str | Path | np.ndarray,
    size: tuple[int, int] = (1280, 720),
    fps: float = 10.0,
    seconds: float = 10.0,
    seed: int = 0,
    engine: FaceEngine | None = None,
) -> GroundTruth:
    """Render the scene to `path` (.mp4/.mkv H.264, .webm VP9, .avi MJPEG) and return its ground truth.

    `seed` drives a small walking bob and sensor noise so frames are not pixel-identical, as from a camera.
    """
    engine = engine or FaceEngine()
    rng = np.random.default_rng(seed)
    cuts = {p.photo: cut_out(p.photo, engine) for p in people}
    base = _fit_background(background, size).astype(np.int16)
    bob_phase = rng.uniform(0, 2 * np.pi, len(people))
    truth = GroundTruth(Path(path), size, fps, list(people))
    with VideoWriter(path, size, fps) as writer:
        for index in range(int(round(seconds * fps))):
            t = index / fps
            noise = rng.integers(-3, 4, size=(size[1], size[0], 1), dtype=np.int16)
            canvas = np.clip(base + noise, 0, 255).astype(np.uint8)
            faces = []
            for number, person in enumerate(people):
                where = person.at(t)
                if where is None:
                    continue
                x, y, face_px = where
                bob = 0.04 * face_px * np.sin(2 * np.pi * 1.6 * t + bob_phase[number])
                box = _paste(canvas, cuts[person.photo], (x * size[0], y * size[1] + bob), face_px)
                clipped, visible = _clip(box, size)
                if visible > 0:
                    faces.append(FaceTruth(person.identity, number, clipped, visible))
            writer.write(canvas)
            truth.frames.append(faces)
    return truth


def walkers(
    faces: Sequence[tuple[str, Path]],
    seconds: float,
    concurrent: int = 3,
    crossing_s: tuple[float, float] = (4.0, 7.0),
    face_px: tuple[float, float] = (110.0, 170.0),
    seed: int = 0,
) -> list[PersonSpec]:
    """A steady flow of people crossing in lanes (alternate lanes walk opposite ways), `concurrent` in view.

    Each person crosses once in `crossing_s` seconds at a random height, with a face size drawn from
    `face_px` that grows or shrinks by up to 30% on the way (walking diagonally towards or away).
    """
    rng = np.random.default_rng(seed)
    people: list[PersonSpec] = []
    lanes = np.linspace(0.3, 0.7, max(concurrent, 1))
    order = rng.permutation(len(faces))
    t = -crossing_s[0] * 0.5
    count = 0
    while t < seconds:
        identity, photo = faces[order[count % len(faces)]]
        duration = float(rng.uniform(*crossing_s))
        y = float(lanes[count % len(lanes)] + rng.uniform(-0.05, 0.05))
        size0 = float(rng.uniform(*face_px))
        size1 = float(np.clip(size0 * rng.uniform(0.7, 1.3), *face_px))
        start, end = (-0.12, 1.12) if count % len(lanes) % 2 == 0 else (1.12, -0.12)  # one way per lane
        people.append(PersonSpec(photo, identity, t, t + duration, (start, y), (end, y), (size0, size1)))
        t += float(np.mean(crossing_s)) / max(concurrent, 1)
        count += 1
    return people
