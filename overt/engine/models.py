"""Where model weights come from: installed packages or files the user supplies, never the network."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ModelError

DLIB_MODELS = {
    "hog": None,  # built into dlib itself
    "cnn": "mmod_human_face_detector.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
}


@cache
def _dlib_models_dir() -> Path:
    # face_recognition_models' __init__ imports pkg_resources (gone in setuptools >= 82),
    # so find the package's folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("package face_recognition_models is not installed (pip install face_recognition_models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def dlib_model_path(name: str) -> Path:
    """Path of one of dlib's model files shipped in face_recognition_models."""
    filename = DLIB_MODELS.get(name)
    if filename is None:
        raise ModelError(f"no model file named {name!r}")
    path = _dlib_models_dir() / filename
    if not path.is_file():
        raise ModelError(f"model file missing: {path}")
    return path


@cache
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelInfo:
    """What `overt models` reports about one model file."""

    role: str
    name: str
    path: str | None
    sha256: str | None
