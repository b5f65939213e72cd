"""Labelled face datasets: a manifest CSV, embedded once per image and model, cached by image hash.

The cache makes a re-run (new grouping, new seed, new threshold) cost seconds instead of minutes,
and the dataset hash ties every report and calibration to exactly the images and labels it used.
"""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import EngineConfig, FaceEngine
from ..engine.batch import analyse_paths


class ManifestError(ValueError):
    """The manifest is unreadable or lacks required columns; the message names the row."""


@dataclass(frozen=True)
class Manifest:
    paths: list[Path]
    identities: list[str]
    labels: dict[str, list[str]]  # column -> value per row
    name: str

    def groups(self, by: list[str]) -> list[str] | None:
        """Intersectional group per row ("female/black"), from the dataset's own labels only."""
        if not by:
            return None
        missing = [c for c in by if c not in self.labels]
        if missing:
            raise ManifestError(f"manifest has no column {', '.join(missing)} (columns: {', '.join(self.labels)})")
        return ["/".join(self.labels[c][i] or "unknown" for c in by) for i in range(len(self.paths))]


def read_manifest(path: Path, root: Path | None = None) -> Manifest:
    """`path,identity,<label columns>`; image paths are relative to `root` (default: the manifest's folder)."""
    base = root or path.parent
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            if "path" not in columns or "identity" not in columns:
                raise ManifestError(f"{path}: needs the columns path,identity")
            label_cols = [c for c in columns if c not in ("path", "identity")]
            paths, identities, labels = [], [], {c: [] for c in label_cols}
            for number, row in enumerate(reader, start=2):
                if not row.get("path") or not row.get("identity"):
                    raise ManifestError(f"{path}: row {number} lacks a path or identity")
                paths.append(base / row["path"])
                identities.append(row["identity"])
                for c in label_cols:
                    labels[c].append(row.get(c) or "")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{path}: {exc}") from None
    if not paths:
        raise ManifestError(f"{path}: no rows")
    return Manifest(paths, identities, labels, path.name)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class EmbeddingCache:
    """A small SQLite file: (image sha256, model) -> unit vector and raw norm, or the reason none was found."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (sha256 TEXT, model TEXT, vector BLOB, norm REAL, "
            "quality REAL, error TEXT, PRIMARY KEY (sha256, model))"
        )

    def get(self, sha: str, model: str) -> tuple[np.ndarray | None, float, float, str | None] | None:
        row = self._db.execute(
            "SELECT vector, norm, quality, error FROM embeddings WHERE sha256=? AND model=?", (sha, model)
        ).fetchone()
        if row is None:
            return None
        vector = None if row[0] is None else np.frombuffer(row[0], dtype=np.float32)
        return vector, row[1], row[2], row[3]

    def put(
        self, sha: str, model: str, vector: np.ndarray | None, norm: float, quality: float, error: str | None
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?)",
            (
                sha,
                model,
                None if vector is None else vector.astype(np.float32).tobytes(),
                norm,
                quality,
                error,
            ),
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class Embedded:
    """One row per manifest row; a row with no usable face (failure to acquire) has a NaN vector."""

    vectors: np.ndarray
    norms: np.ndarray
    quality: np.ndarray
    errors: list[str | None]
    model: str
    dataset_sha256: str
    cached: int

    @property
    def acquired(self) -> np.ndarray:
        return ~np.isnan(self.vectors[:, 0])


def embed_manifest(
    manifest: Manifest,
    config: EngineConfig,
    cache: EmbeddingCache,
    *,
    workers: int | None = None,
    on_image: Callable[[], None] | None = None,
) -> Embedded:
    """Largest face per image; images already in the cache are not decoded again."""
    model = FaceEngine(config).model_id
    hashes = [file_sha256(p) if p.is_file() else "" for p in manifest.paths]
    results: dict[int, tuple[np.ndarray | None, float, float, str | None]] = {}
    todo = []
    for i, sha in enumerate(hashes):
        hit = cache.get(sha, model) if sha else None
        if not sha or hit is not None:
            results[i] = hit or (None, 0.0, 0.0, "missing file")
            if on_image:
                on_image()
        else:
            todo.append(i)
    cached = len(manifest.paths) - len(todo)
    for i, result in zip(
        todo,
        analyse_paths([manifest.paths[i] for i in todo], config, largest_only=True, workers=workers),
        strict=True,
    ):
        if result.error or not result.faces:
            entry = (None, 0.0, 0.0, result.error or "no face found")
        else:
            face = result.faces[0]
            entry = (face.embedding.vector, face.embedding.norm, face.quality.score, None)
        cache.put(hashes[i], model, *entry)
        results[i] = entry
        if on_image:
            on_image()
    dim = next((len(v) for v, *_ in results.values() if v is not None), 1)
    vectors = np.full((len(hashes), dim), np.nan, dtype=np.float32)
    norms, quality = np.zeros(len(hashes)), np.zeros(len(hashes))
    errors: list[str | None] = []
    for i in range(len(hashes)):
        vector, norm, q, error = results[i]
        if vector is not None:
            vectors[i] = vector
        norms[i], quality[i] = norm, q
        errors.append(error)
    digest = hashlib.sha256()
    for i, sha in enumerate(hashes):
        labels = ",".join(manifest.labels[c][i] for c in sorted(manifest.labels))
        digest.update(f"{sha},{manifest.identities[i]},{labels}\n".encode())
    return Embedded(vectors, norms, quality, errors, model, digest.hexdigest(), cached)
