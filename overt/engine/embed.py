"""Embedders turn one detected face into a unit-length template tagged with its model id."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import dlib
import numpy as np

from .align import align
from .errors import ModelError
from .models import dlib_model_path, file_sha256
from .types import Embedding, Face


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, image: np.ndarray, face: Face) -> Embedding: ...

    def embed_many(self, image: np.ndarray, faces: list[Face]) -> list[Embedding]: ...


def to_embedding(raw: np.ndarray, model_id: str) -> Embedding:
    """Unit-length template; cosine similarity is then one inner product, for 1:1 and the 1:N index alike."""
    vector = np.asarray(raw, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ModelError("the model produced an empty or non-finite vector")
    return Embedding(vector / norm, model_id, norm)


def dlib_chip(image: np.ndarray, face: Face) -> np.ndarray:
    """dlib's own 150 px chip (from its 5 landmarks, 25% padding), the input its ResNet was trained on."""
    x, y, w, h = face.box
    if len(face.raw_points) != 5:  # a face from another landmark model: the generic 112 px alignment, upscaled
        return cv2.resize(align(image, face, 112), (150, 150), interpolation=cv2.INTER_LINEAR)
    rect = dlib.rectangle(x, y, x + w - 1, y + h - 1)
    shape = dlib.full_object_detection(rect, [dlib.point(int(px), int(py)) for px, py in face.raw_points])
    return dlib.get_face_chip(image, shape, size=150, padding=0.25)


class DlibEmbedder:
    """dlib's ResNet (128-d, 99.38% on LFW) on dlib's own 150 px chip, run by dlib itself (one core)."""

    model_id = "dlib-resnet-v1"
    dim = 128

    def __init__(self) -> None:
        self._net = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))

    def embed(self, image: np.ndarray, face: Face) -> Embedding:
        return self.embed_many(image, [face])[0]

    def embed_many(self, image: np.ndarray, faces: list[Face]) -> list[Embedding]:
        return [to_embedding(np.asarray(self._net.compute_face_descriptor(dlib_chip(image, f))), self.model_id)
                for f in faces]


class DlibOnnxEmbedder(DlibEmbedder):
    """The same network and weights ported to ONNX Runtime (dlib_onnx.py): batched, on every core.

    Same model id: its descriptors equal dlib's to within 1e-4, so templates, calibration and cohort
    carry over unchanged (tests/test_dlib_onnx.py, bench/detect.py).
    """

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime as ort

        from .dlib_onnx import onnx_model_bytes

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        self._session = ort.InferenceSession(onnx_model_bytes(dlib_model_path("resnet")), options,
                                             providers=["CPUExecutionProvider"])

    def embed_many(self, image: np.ndarray, faces: list[Face]) -> list[Embedding]:
        if not faces:
            return []
        chips = np.stack([dlib_chip(image, f) for f in faces]).astype(np.float32)
        (descriptors,) = self._session.run(None, {"chips": chips})
        return [to_embedding(d, self.model_id) for d in descriptors]


@dataclass(frozen=True)
class OnnxInput:
    """How a user-supplied ArcFace-style model wants its 112x112 input."""

    size: int = 112
    mean: float = 127.5
    std: float = 127.5
    bgr: bool = False
    layout: str = "NCHW"


class OnnxEmbedder:
    """Any ONNX face-embedding model file the user supplies, run by ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, spec: OnnxInput | None = None, name: str | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model file not found: {path}")
        self.spec = spec or OnnxInput()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load ONNX model {path.name}: {str(exc).splitlines()[0]}") from None
        self._input = self._session.get_inputs()[0].name
        output_shape = self._session.get_outputs()[0].shape
        self.dim = int(output_shape[-1]) if isinstance(output_shape[-1], int) else 0
        self.model_id = f"onnx-{name or path.stem}-{file_sha256(path)[:12]}"

    def embed(self, image: np.ndarray, face: Face) -> Embedding:
        chip = align(image, face, self.spec.size).astype(np.float32)
        if self.spec.bgr:
            chip = chip[..., ::-1]
        chip = (chip - self.spec.mean) / self.spec.std
        batch = chip.transpose(2, 0, 1)[None] if self.spec.layout == "NCHW" else chip[None]
        (output,) = self._session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})
        return to_embedding(output[0], self.model_id)

    def embed_many(self, image: np.ndarray, faces: list[Face]) -> list[Embedding]:
        return [self.embed(image, face) for face in faces]
