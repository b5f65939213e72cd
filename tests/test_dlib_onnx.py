"""dlib's face descriptor ported to ONNX Runtime gives dlib's own numbers, from the same weights file."""

from __future__ import annotations

import csv
from pathlib import Path

import dlib
import numpy as np
import pytest

from overt.engine import EngineConfig, FaceEngine, load_image
from overt.engine.dlib_onnx import onnx_model_bytes, read_layers
from overt.engine.embed import DlibOnnxEmbedder, dlib_chip
from overt.engine.models import dlib_model_path

TOLERANCE = 1e-4  # max absolute difference per descriptor component


def chips_of(paths: list[Path], engine: FaceEngine) -> np.ndarray:
    chips = []
    for path in paths:
        image = load_image(path)
        chips.append(dlib_chip(image, engine.detect(image)[0]))
    return np.stack(chips)


def max_difference(chips: np.ndarray) -> float:
    net = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))
    reference = np.array([net.compute_face_descriptor(chip) for chip in chips])
    onnx = DlibOnnxEmbedder()
    (ported,) = onnx._session.run(None, {"chips": chips.astype(np.float32)})
    return float(np.abs(ported - reference).max())


def test_the_weights_file_parses_into_the_documented_architecture() -> None:
    layers = read_layers(dlib_model_path("resnet").read_bytes())
    assert layers.means == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert len(layers.convs) == 29 and layers.convs[0][0].shape == (32, 3, 7, 7)
    assert layers.fc is not None and layers.fc.shape == (256, 128)


def test_the_hand_written_model_is_valid_onnx() -> None:
    """overt/engine/onnx_proto.py writes protobuf by hand: the onnx package's checker must accept it."""
    import onnx

    model = onnx.load_from_string(onnx_model_bytes(dlib_model_path("resnet")))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["descriptors"]
    assert sum(n.op_type == "Conv" for n in model.graph.node) == 29


def test_equal_to_dlib_on_the_repo_faces(data_dir: Path) -> None:
    paths = sorted((data_dir / "faces").glob("*.jpg"))
    assert max_difference(chips_of(paths, FaceEngine())) <= TOLERANCE


def test_the_engine_uses_it_by_default_with_the_same_model_id(data_dir: Path) -> None:
    image = load_image(data_dir / "faces" / "042_neutral.jpg")
    fast, slow = FaceEngine(), FaceEngine(EngineConfig(descriptor_runtime="dlib"))
    face = fast.detect(image)[0]
    a, b = fast.embed(image, face), slow.embed(image, face)
    assert isinstance(fast.embedder, DlibOnnxEmbedder) and a.model == b.model == "dlib-resnet-v1"
    assert np.abs(a.vector - b.vector).max() < 1e-5
    assert [e.model for e in fast.embed_many(image, [face, face])] == ["dlib-resnet-v1"] * 2


@pytest.mark.shared
@pytest.mark.slow
def test_equal_to_dlib_on_200_london_faces(shared_data: Path) -> None:
    with open(shared_data / "faces" / "labels.csv", newline="") as handle:
        paths = [shared_data / "faces" / r["path"] for r in csv.DictReader(handle) if r["subset"] == "london"]
    assert len(paths) >= 200
    assert max_difference(chips_of(paths[:204], FaceEngine())) <= TOLERANCE
