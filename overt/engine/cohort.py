"""Adaptive score normalisation (AS-norm) against a cohort of reference faces.

Some groups' faces crowd together in a model's embedding space (dlib's model puts different
Black men's faces much closer than different white men's), so one raw threshold gives them
many more false matches. AS-norm rescales each comparison by how similar each side is to its
k nearest cohort faces: a face in a crowded region needs a higher raw score to stand out. It uses
no demographic label at run time; the cohort is just a set of faces, shipped as embeddings only.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

BUNDLED_DIR = Path(__file__).parent / "cohort"
MIN_STD = 1e-4


@dataclass(frozen=True)
class Cohort:
    """Unit embeddings of reference faces for one model, with where they came from."""

    model: str
    vectors: np.ndarray  # (n, d) float32
    provenance: dict[str, Any]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.vectors, dtype=np.float32).tobytes()).hexdigest()

    def __len__(self) -> int:
        return len(self.vectors)

    def stats(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread of each vector's k highest cohort scores (computed in blocks to bound memory)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        k = max(1, min(k, len(self.vectors)))
        means = np.empty(len(vectors), np.float32)
        stds = np.empty(len(vectors), np.float32)
        for start in range(0, len(vectors), 4096):
            scores = vectors[start : start + 4096] @ self.vectors.T
            top = np.partition(scores, -k, axis=1)[:, -k:] if k < scores.shape[1] else scores
            means[start : start + 4096] = top.mean(axis=1)
            stds[start : start + 4096] = np.maximum(top.std(axis=1), MIN_STD)
        return means, stds

    def save(self, path: Path) -> Path:
        """One .npz: the vectors and the provenance as JSON (no images, ever)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        provenance = {**self.provenance, "model": self.model, "size": len(self), "sha256": self.sha256}
        np.savez_compressed(buffer, vectors=self.vectors.astype(np.float32), provenance=json.dumps(provenance))
        path.write_bytes(buffer.getvalue())
        return path


def load_cohort(path: Path) -> Cohort:
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors = data["vectors"].astype(np.float32)
            provenance = json.loads(str(data["provenance"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cohort file {path} is unreadable: {exc}") from None
    cohort = Cohort(provenance.get("model", ""), vectors, provenance)
    if provenance.get("sha256") and provenance["sha256"] != cohort.sha256:
        raise ModelError(f"cohort file {path} does not match its recorded checksum")
    return cohort


def find_cohort(model_id: str, search_dirs: list[Path] | None = None) -> Cohort | None:
    """The user's own cohort for this model if there is one, else the one shipped with Overt."""
    for folder in [*(search_dirs or []), BUNDLED_DIR]:
        candidate = Path(folder) / f"{model_id}.npz"
        if candidate.is_file():
            return load_cohort(candidate)
    return None


@dataclass(frozen=True)
class Scorer:
    """Turns raw cosine scores into the scores a calibration's threshold is about (raw, or AS-norm)."""

    cohort: Cohort | None = None
    k: int = 0

    @property
    def kind(self) -> str:
        return "as-norm" if self.cohort is not None else "raw"

    @property
    def score_range(self) -> tuple[float, float]:
        """The scores this scorer can give: cosine's [-1, 1], or AS-norm z-values (bounded here at ±100,
        far beyond any genuine or impostor score), so a threshold outside it is a mistake, not a choice."""
        return (-1.0, 1.0) if self.cohort is None else (-100.0, 100.0)

    def stats(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-vector cohort statistics; (0, 1) when raw, so `normalise` is then the identity."""
        n = len(np.atleast_2d(vectors))
        if self.cohort is None:
            return np.zeros(n, np.float32), np.ones(n, np.float32)
        return self.cohort.stats(vectors, self.k)

    def normalise(self, raw: np.ndarray | float, mean_a: Any, std_a: Any, mean_b: Any, std_b: Any) -> Any:
        """Symmetric AS-norm: the average of the score's z-value against each side's cohort neighbours."""
        if self.cohort is None:
            return raw
        return 0.5 * ((raw - mean_a) / std_a + (raw - mean_b) / std_b)

    def describe(self) -> dict[str, Any]:
        if self.cohort is None:
            return {"kind": "raw"}
        return {
            "kind": "as-norm",
            "k": self.k,
            "symmetric": True,
            "cohort_size": len(self.cohort),
            "cohort_sha256": self.cohort.sha256,
            "cohort_source": self.cohort.provenance.get("source", ""),
        }
