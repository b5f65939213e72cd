"""FaceEngine: the stages wired together, loaded once and reused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .align import align
from .calibration import Calibration, find_calibration
from .cohort import Scorer, find_cohort
from .compare import check_scorer, compare
from .detect import DETECTORS, Detector, DetectorSettings
from .embed import DlibEmbedder, DlibOnnxEmbedder, Embedder, OnnxEmbedder, OnnxInput
from .errors import EngineError, ModelError, NoFaceError
from .image import ImageLimits, load_image
from .quality import QualityLimits, assess
from .types import Comparison, Embedding, Face, Quality


@dataclass(frozen=True)
class EngineConfig:
    """Defaults for public-space cameras: BlazeFace finds faces from 32 px wide (bench/detect.py)."""

    detector: str = "blazeface"
    detection: DetectorSettings = field(default_factory=DetectorSettings)
    limits: ImageLimits = field(default_factory=ImageLimits)
    quality: QualityLimits = field(default_factory=QualityLimits)
    onnx_model: str | None = None
    onnx_input: OnnxInput = field(default_factory=OnnxInput)
    # dlib's descriptor run by ONNX Runtime ("onnx", batched, every core) or by dlib itself ("dlib")
    descriptor_runtime: str = "onnx"
    threads: int | None = None  # ONNX Runtime threads per engine; None = every core this process may use
    calibration_dirs: tuple[Path, ...] = ()
    cohort_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class AnalysedFace:
    face: Face
    quality: Quality
    embedding: Embedding | None = None

    def to_json(self) -> dict:
        return {**self.face.to_json(), "quality": self.quality.to_json()}


@dataclass(frozen=True)
class Verification:
    comparison: Comparison
    faces_a: int
    faces_b: int

    @property
    def notes(self) -> list[str]:
        notes = []
        for side, count in (("a", self.faces_a), ("b", self.faces_b)):
            if count > 1:
                notes.append(f"{count} faces in {side}: used the largest")
        return notes


class FaceEngine:
    """Detect, align, assess and embed faces; compare templates against the model's calibration."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        if self.config.detector not in DETECTORS:
            raise EngineError(f"unknown detector {self.config.detector!r} (choose from {', '.join(DETECTORS)})")
        if self.config.descriptor_runtime not in ("onnx", "dlib"):
            raise EngineError(f"unknown descriptor runtime {self.config.descriptor_runtime!r} (onnx or dlib)")
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._scorer: Scorer | None = None
        self._calibration: Calibration | None = None

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = DETECTORS[self.config.detector](self.config.detection)
        return self._detector

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            if self.config.onnx_model:
                self._embedder = OnnxEmbedder(self.config.onnx_model, self.config.onnx_input)
            elif self.config.descriptor_runtime == "dlib":
                self._embedder = DlibEmbedder()
            else:
                self._embedder = DlibOnnxEmbedder(self.config.threads)
        return self._embedder

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def calibration(self) -> Calibration:
        """Read once per engine, like the scorer that must match it (a new calibration needs a restart)."""
        if self._calibration is None:
            self._calibration = find_calibration(self.model_id, list(self.config.calibration_dirs))
        return self._calibration

    def scorer(self) -> Scorer:
        """The score the calibration is about: AS-norm against the cohort when it says so, else raw cosine."""
        if self._scorer is None:
            calibration = self.calibration()
            normalisation = calibration.normalisation
            if normalisation.get("kind", "raw") == "raw":
                self._scorer = Scorer()
            else:
                cohort = find_cohort(self.model_id, list(self.config.cohort_dirs))
                if cohort is None:
                    raise ModelError(f"the calibration needs a cohort for {self.model_id} and none is installed")
                self._scorer = Scorer(cohort, int(normalisation["k"]))
            check_scorer(calibration, self._scorer)
        return self._scorer

    def load(self, source: str | Path | bytes) -> np.ndarray:
        return load_image(source, self.config.limits)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces, largest first."""
        return self.detector.detect(image)

    def assess(self, image: np.ndarray, face: Face) -> Quality:
        return assess(face, align(image, face, 112), self.config.quality)

    def embed(self, image: np.ndarray, face: Face) -> Embedding:
        return self.embedder.embed(image, face)

    def embed_many(self, image: np.ndarray, faces: list[Face]) -> list[Embedding]:
        """One batch for all faces of an image: far faster than one at a time on the ONNX runtime."""
        return self.embedder.embed_many(image, faces)

    def analyse(self, image: np.ndarray, *, embed: bool = True, largest_only: bool = False) -> list[AnalysedFace]:
        faces = self.detect(image)
        if largest_only:
            faces = faces[:1]
        embeddings = self.embed_many(image, faces) if embed else [None] * len(faces)
        return [AnalysedFace(face, self.assess(image, face), e) for face, e in zip(faces, embeddings, strict=True)]

    def template(self, source: str | Path | bytes | np.ndarray) -> tuple[AnalysedFace, int]:
        """The largest face's analysis and how many faces were found; raises NoFaceError when none."""
        image = source if isinstance(source, np.ndarray) else self.load(source)
        faces = self.detect(image)
        if not faces:
            raise NoFaceError("no face found")
        face = faces[0]
        return AnalysedFace(face, self.assess(image, face), self.embed(image, face)), len(faces)

    def verify(self, a: str | Path | bytes | np.ndarray, b: str | Path | bytes | np.ndarray) -> Verification:
        """1:1 on the largest face of each; an error names the side (a or b) it came from."""
        sides = []
        for side, source in (("a", a), ("b", b)):
            try:
                sides.append(self.template(source))
            except EngineError as exc:
                where = f" ({source})" if isinstance(source, (str, Path)) else ""
                raise type(exc)(f"{side}{where}: {exc}") from None
        (face_a, count_a), (face_b, count_b) = sides
        assert face_a.embedding is not None and face_b.embedding is not None
        comparison = compare(face_a.embedding, face_b.embedding, self.calibration(), self.scorer())
        return Verification(comparison, count_a, count_b)
