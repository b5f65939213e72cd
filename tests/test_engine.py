"""The engine on real photos with the real dlib models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from overt.engine import Embedding, EngineConfig, FaceEngine, ModelError, similarity
from overt.engine.align import align
from overt.engine.detect import DetectorSettings, working_scale
from overt.engine.embed import OnnxEmbedder, OnnxInput


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="module")
def faces_dir(data_dir: Path) -> Path:
    return data_dir / "faces"


def test_detects_one_face_with_landmarks_in_portrait(engine: FaceEngine, faces_dir: Path) -> None:
    image = engine.load(faces_dir / "001_neutral.jpg")
    faces = engine.detect(image)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    left_eye, right_eye, nose = face.landmarks[:3]
    assert 100 < w < 500 and w == pytest.approx(h, rel=0.2)
    for px, py in (left_eye, right_eye, nose):  # landmarks inside the box
        assert x <= px <= x + w and y <= py <= y + h
    assert left_eye[0] < nose[0] < right_eye[0]
    assert nose[1] > max(left_eye[1], right_eye[1])
    assert face.confidence > 0


def test_no_faces_in_backgrounds(engine: FaceEngine, data_dir: Path) -> None:
    for path in (data_dir / "backgrounds").glob("*.jpg"):
        assert engine.detect(engine.load(path)) == [], path.name


def test_small_face_needs_a_smaller_min_face(engine: FaceEngine, faces_dir: Path) -> None:
    image = engine.load(faces_dir / "004_neutral.jpg")
    tiny = cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA)  # face about 45 px wide
    assert FaceEngine(EngineConfig(detection=DetectorSettings(min_face=80))).detect(tiny) == []
    upsampling = FaceEngine(EngineConfig(detection=DetectorSettings(min_face=40)))
    faces = upsampling.detect(tiny)
    assert len(faces) == 1
    assert faces[0].box[2] < 64  # boxes are mapped back to the original pixels


def test_large_images_are_detected_on_a_downscaled_copy(engine: FaceEngine, faces_dir: Path) -> None:
    image = engine.load(faces_dir / "001_neutral.jpg")
    big = cv2.resize(image, (2560, 2560))
    settings = DetectorSettings(min_face=80, max_side=1280)
    assert working_scale(big.shape, settings) == pytest.approx(0.5)
    small_box = engine.detect(image)[0].box
    big_box = FaceEngine(EngineConfig(detection=settings)).detect(big)[0].box

    def centre(box):
        return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])

    assert np.allclose(centre(big_box) / 4, centre(small_box), atol=0.1 * small_box[2])
    assert big_box[2] / 4 == pytest.approx(small_box[2], rel=0.25)


def test_alignment_puts_eyes_at_canonical_positions(engine: FaceEngine, faces_dir: Path) -> None:
    image = engine.load(faces_dir / "lisa2.jpg")
    face = engine.detect(image)[0]
    chip = align(image, face, 112)
    assert chip.shape == (112, 112, 3)
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((320, 320), 20, 1.0), image.shape[1::-1])
    turned = engine.detect(rotated)
    if turned:  # HOG may miss a rotated face; when found, the chip undoes the rotation
        assert abs(engine.assess(rotated, turned[0]).roll) > 10
        upright = align(rotated, turned[0], 112)
        assert np.corrcoef(upright.astype(float).ravel(), chip.astype(float).ravel())[0, 1] > 0.5


def test_quality_explains_blur_darkness_and_size(engine: FaceEngine, faces_dir: Path) -> None:
    image = engine.load(faces_dir / "004_neutral.jpg")
    face = engine.detect(image)[0]
    good = engine.assess(image, face)
    assert good.score > 0.8 and good.reasons == ()
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    bad = engine.assess(blurred, engine.detect(blurred)[0] if engine.detect(blurred) else face)
    assert bad.score < good.score and any("blurred" in r for r in bad.reasons)
    dark = (image * 0.15).astype(np.uint8)
    assert any("under-exposed" in r for r in engine.assess(dark, face).reasons)
    small = cv2.resize(image, (200, 200), interpolation=cv2.INTER_AREA)
    small_faces = FaceEngine(EngineConfig(detection=DetectorSettings(min_face=30))).detect(small)
    assert small_faces and any("small face" in r for r in engine.assess(small, small_faces[0]).reasons)


def test_embeddings_are_unit_vectors_tagged_with_model(engine: FaceEngine, faces_dir: Path) -> None:
    analysed, count = engine.template(faces_dir / "001_neutral.jpg")
    assert count == 1
    emb = analysed.embedding
    assert emb.model == "dlib-resnet-v1" and emb.vector.shape == (128,)
    assert np.linalg.norm(emb.vector) == pytest.approx(1.0, abs=1e-5)
    assert 1.0 < emb.norm < 2.5  # dlib's raw descriptor length is kept


def test_same_person_scores_higher_than_different_people(engine: FaceEngine, faces_dir: Path) -> None:
    def emb(name: str) -> Embedding:
        return engine.template(faces_dir / name)[0].embedding

    a, a2, b, c = emb("042_neutral.jpg"), emb("042_smiling.jpg"), emb("043_neutral.jpg"), emb("025_neutral.jpg")
    genuine = similarity(a, a2)
    assert genuine > similarity(a, b) and genuine > similarity(a, c)


def test_templates_of_different_models_never_compare() -> None:
    a = Embedding(np.ones(4, np.float32) / 2, "model-a")
    b = Embedding(np.ones(4, np.float32) / 2, "model-b")
    with pytest.raises(ModelError, match="different models"):
        similarity(a, b)


def _tiny_onnx_model(path: Path, dim: int = 32) -> np.ndarray:
    """An ArcFace-shaped network built with onnx's helper API: 112x112 RGB -> pooled 8x8 -> linear -> dim."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(7).standard_normal((3 * 8 * 8, dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["embedding"]),
        ],
        "tiny-face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, dim])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return weights


def test_onnx_embedder_runs_a_user_supplied_model(tmp_path: Path, engine: FaceEngine, faces_dir: Path) -> None:
    weights = _tiny_onnx_model(tmp_path / "tiny.onnx")
    spec = OnnxInput(mean=127.5, std=128.0)
    embedder = OnnxEmbedder(tmp_path / "tiny.onnx", spec)
    image = engine.load(faces_dir / "001_neutral.jpg")
    face = engine.detect(image)[0]
    emb = embedder.embed(image, face)
    assert emb.model.startswith("onnx-tiny-") and emb.vector.shape == (32,)
    # the same network in numpy on the same aligned, normalised chip
    chip = (align(image, face, 112).astype(np.float32) - 127.5) / 128.0
    pooled = chip.reshape(8, 14, 8, 14, 3).mean(axis=(1, 3)).transpose(2, 0, 1).reshape(-1)
    expected = pooled @ weights
    assert np.allclose(emb.vector, expected / np.linalg.norm(expected), atol=1e-4)
    with pytest.raises(ModelError):
        similarity(emb, engine.embed(image, face))


def test_onnx_embedder_refuses_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        OnnxEmbedder(tmp_path / "none.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxEmbedder(broken)


@pytest.mark.slow
def test_cnn_detector_finds_the_face(faces_dir: Path) -> None:
    cnn = FaceEngine(EngineConfig(detector="cnn", detection=DetectorSettings(min_face=120)))
    faces = cnn.detect(cnn.load(faces_dir / "60cm.jpg"))
    assert len(faces) == 1 and faces[0].detector == "dlib-cnn"
