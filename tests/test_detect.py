"""Detectors for public-space cameras: BlazeFace decoding, small faces in synthetic crowds, dlib kept."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from overt.engine import EngineConfig, FaceEngine, load_image
from overt.engine.blazeface import (
    FULL_RANGE,
    SHORT_RANGE,
    Detections,
    anchors,
    decode,
    pyramid_scales,
    tile_origins,
    weighted_nms,
)
from overt.engine.detect import ESTIMATED_MOUTH, DetectorSettings
from overt.streams.crowd import DetectionScore, crowd_set


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="module")
def repo_crowd(data_dir: Path) -> list:
    """Four 1280x720 frames from the repo's own faces and backgrounds, the same on every run."""
    with open(data_dir / "faces" / "labels.csv", newline="") as handle:
        photos = [(r["identity"], data_dir / "faces" / r["path"]) for r in csv.DictReader(handle)]
    return crowd_set(photos, sorted((data_dir / "backgrounds").glob("*.jpg")), count=4, seed=7)


def test_anchor_layouts_match_the_models() -> None:
    assert anchors(SHORT_RANGE, 128, 128).shape == (896, 2)  # 16x16x2 + 8x8x6
    full = anchors(FULL_RANGE, 192, 192)
    assert full.shape == (2304, 2)  # 48x48, one per cell
    assert full[0].tolist() == [2.0, 2.0] and full[1].tolist() == [6.0, 2.0]  # row-major, cell centres


def test_decode_places_boxes_and_keypoints_relative_to_anchors() -> None:
    centres = np.array([[10.0, 20.0], [50.0, 50.0]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [1.0, -2.0, 8.0, 6.0]
    raw[0, 4:6] = [-3.0, -1.0]  # first keypoint
    found = decode(raw, np.array([3.0, -3.0], np.float32), centres, threshold=0.5)
    assert len(found.scores) == 1 and found.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert found.boxes[0].tolist() == [7.0, 15.0, 15.0, 21.0]
    assert found.keypoints[0, 0].tolist() == [7.0, 19.0]


def test_weighted_nms_merges_overlapping_boxes_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    found = Detections(boxes, np.zeros((3, 6, 2), np.float32), np.array([0.9, 0.3, 0.8], np.float32))
    merged = weighted_nms(found)
    assert len(merged.scores) == 2 and merged.scores.tolist() == pytest.approx([0.9, 0.8])
    assert merged.boxes[0, 0] == pytest.approx(0.3 / 1.2)  # pulled towards the weaker box by its weight


def test_pyramid_and_tiles_cover_the_frame() -> None:
    scales = pyramid_scales((720, 1280, 3), SHORT_RANGE, min_face=32, max_side=4096)
    assert scales[0] == pytest.approx(SHORT_RANGE.smallest / 32)  # a 32 px face meets the model's smallest
    assert 1280 * scales[-1] <= SHORT_RANGE.input_size  # the last level sees the whole frame as one face
    origins = tile_origins(1000, 192, 96)
    assert origins[0] == 0 and origins[-1] == 1000 - 192
    assert all(b - a <= 192 - 96 for a, b in zip(origins, origins[1:], strict=False))


def test_blazeface_is_the_default_and_returns_five_landmarks(engine: FaceEngine, data_dir: Path) -> None:
    image = load_image(data_dir / "faces" / "001_neutral.jpg")
    (face,) = engine.detect(image)
    assert face.detector == "blazeface-short" and 0.5 <= face.confidence <= 1.0
    assert len(face.raw_points) == 5  # dlib's own landmarks, which its descriptor was trained with
    assert face.estimated == ESTIMATED_MOUTH
    points = face.landmarks
    assert len({(round(x), round(y)) for x, y in points}) == 5  # five distinct points
    left, right, nose, mouth_l, mouth_r = points
    assert left[0] < nose[0] < right[0] and mouth_l[0] < mouth_r[0]
    assert max(left[1], right[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert face.to_json()["estimated_landmarks"] == [3, 4]


def test_hog_stays_selectable_with_the_same_box_convention(engine: FaceEngine, data_dir: Path) -> None:
    image = load_image(data_dir / "faces" / "004_neutral.jpg")
    blaze = engine.detect(image)[0]
    hog = FaceEngine(EngineConfig(detector="hog", detection=DetectorSettings(min_face=80))).detect(image)[0]
    assert hog.detector == "dlib-hog"
    assert blaze.box[2] == pytest.approx(hog.box[2], rel=0.15)
    assert np.abs(blaze.landmarks[:2] - hog.landmarks[:2]).max() < 0.1 * hog.inter_eye


def test_small_faces_in_a_synthetic_crowd_are_found(engine: FaceEngine, repo_crowd: list) -> None:
    score = DetectionScore()
    for scene in repo_crowd:
        score.add(scene.boxes, [f.box for f in engine.detect(scene.image)])
    summary = score.to_json()
    assert summary["faces"] >= 30 and summary["faces_by_width"]["32-47"] >= 3
    assert score.recall(32) >= 0.95, summary
    assert summary["false_positives_per_image"] <= 1.0, summary


def test_the_old_defaults_miss_the_small_faces(repo_crowd: list) -> None:
    """The reason for the change: dlib HOG at its old 80 px working size misses faces under ~48 px."""
    hog = FaceEngine(EngineConfig(detector="hog", detection=DetectorSettings(min_face=80)))
    score = DetectionScore()
    for scene in repo_crowd:
        score.add(scene.boxes, [f.box for f in hog.detect(scene.image)])
    assert score.to_json()["recall_by_width"]["32-47"] < 0.5


@pytest.mark.shared
def test_no_false_positives_on_background_photos(engine: FaceEngine, shared_data: Path) -> None:
    backgrounds = sorted((shared_data / "backgrounds").glob("*.jpg"))
    found = sum(len(engine.detect(load_image(p))) for p in backgrounds)
    assert found / len(backgrounds) <= 0.25


def test_small_faces_in_a_1080p_frame_are_found(engine: FaceEngine, data_dir: Path) -> None:
    """The pyramid's first level is sized by min_face, not by the frame: 1920x1080 loses nothing."""
    with open(data_dir / "faces" / "labels.csv", newline="") as handle:
        photos = [(r["identity"], data_dir / "faces" / r["path"]) for r in csv.DictReader(handle)]
    (scene,) = crowd_set(photos, sorted((data_dir / "backgrounds").glob("*.jpg")), count=1, seed=3,
                         size=(1920, 1080), faces=16)
    score = DetectionScore()
    score.add(scene.boxes, [f.box for f in engine.detect(scene.image)])
    assert score.recall(32) >= 0.9, score.to_json()
    assert score.false_positives <= 1
