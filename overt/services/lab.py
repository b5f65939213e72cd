"""Laboratory operations on files the caller supplies: detection, 1:1 verification, embeddings.

They store nothing and touch no watchlist, so they need no deployment; anything that searches
or enrols people goes through the gated services instead.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..engine import EngineError, FaceEngine, NoFaceError
from ..engine.batch import ImageResult, analyse_paths
from ..engine.blazeface import FULL_RANGE, SHORT_RANGE, model_path
from ..engine.calibration import find_calibration
from ..engine.cohort import find_cohort
from ..engine.models import DLIB_MODELS, ModelInfo, dlib_model_path, file_sha256

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".pgm", ".ppm"}


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their image files (recursively, sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    result: dict | None = None
    error: str | None = None
    failure: Exception | None = field(default=None, compare=False)  # what went wrong, for the exit code

    def to_json(self) -> dict:
        if self.error is not None:
            return {"a": self.a, "b": self.b, "error": self.error}
        return {"a": self.a, "b": self.b, **(self.result or {})}


class LabService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: FaceEngine | None = None

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            self._engine = FaceEngine(self.settings.engine_config())
        return self._engine

    def analyse(
        self, paths: list[Path], *, embed: bool, on_result: Callable[[ImageResult], None] | None = None
    ) -> Iterator[ImageResult]:
        return analyse_paths(
            expand_paths(paths),
            self.settings.engine_config(),
            embed=embed,
            workers=self.settings.workers,
            on_result=on_result,
        )

    def verify(self, a: str | Path, b: str | Path) -> dict:
        """Largest face of each; raises NoFaceError/ImageError with the side named."""
        result = self.engine.verify(a, b)
        return {
            "a": str(a),
            "b": str(b),
            **result.comparison.to_json(),
            "faces": [result.faces_a, result.faces_b],
            "notes": result.notes,
        }

    def verify_pairs(self, pairs_csv: Path, root: Path | None = None) -> Iterator[PairResult]:
        """First two columns of each row are image paths (a header row is skipped if it names no file)."""
        base = root or pairs_csv.parent
        with open(pairs_csv, newline="") as fh:
            rows = [row for row in csv.reader(fh) if row and any(c.strip() for c in row)]
        for number, row in enumerate(rows, start=1):
            if len(row) < 2:
                yield PairResult(row[0] if row else "", "", error=f"row {number}: needs two image paths")
                continue
            a, b = (base / row[0].strip()), (base / row[1].strip())
            if number == 1 and not a.exists() and not b.exists() and not Path(row[0]).suffix:
                continue  # header
            try:
                result = self.verify(a, b)
                yield PairResult(str(a), str(b), {k: v for k, v in result.items() if k not in ("a", "b")})
            except EngineError as exc:
                yield PairResult(str(a), str(b), error=str(exc), failure=exc)

    def models(self) -> dict:
        engine = self.engine
        files = []
        for role, name in DLIB_MODELS.items():
            if name is None:
                files.append(ModelInfo(role, "dlib frontal_face_detector (HOG, built into dlib)", None, None))
                continue
            path = dlib_model_path(role)
            files.append(ModelInfo(role, name, str(path), file_sha256(path)))
        for model in (SHORT_RANGE, FULL_RANGE):  # BlazeFace, MediaPipe's models, Apache-2.0
            path = model_path(model)
            files.append(ModelInfo(model.name, model.filename, str(path), file_sha256(path)))
        if self.settings.onnx_model:
            path = Path(self.settings.onnx_model)
            files.append(ModelInfo("embedder", path.name, str(path), file_sha256(path) if path.is_file() else None))
        try:
            calibration = find_calibration(engine.model_id, [self.settings.calibration_dir]).to_json()
        except EngineError as exc:
            calibration = {"error": str(exc)}
        cohort = find_cohort(engine.model_id, list(engine.config.cohort_dirs))
        return {
            "cohort": None if cohort is None else {**cohort.provenance, "size": len(cohort), "sha256": cohort.sha256},
            "detector": engine.config.detector,
            "embedder": engine.model_id,
            "files": [f.__dict__ for f in files],
            "calibration": calibration,
        }


__all__ = ["LabService", "NoFaceError", "PairResult", "expand_paths"]
