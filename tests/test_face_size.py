"""Faces too small to search are still detected, tracked and counted; a large enough one is searched."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from overt.engine import Embedding, EngineConfig, FaceEngine, load_image
from overt.engine.calibration import BUNDLED_DIR, find_calibration
from overt.streams import Candidate, Counts, FramePipeline, PipelineSettings


class CountingSession:
    """The LiveSession contract with an empty watchlist: it only counts the searches made."""

    def __init__(self) -> None:
        self.searches = 0

    def authorised(self) -> bool:
        return True

    def search(self, embedding: Embedding) -> list[Candidate]:
        self.searches += 1
        return []

    def raise_alert(self, *args: object) -> str:
        raise AssertionError("no watchlist, no alert")

    def record_counts(self, counts: Counts) -> None:
        pass


def frames_with_face(data_dir: Path, face_width: int) -> np.ndarray:
    """A 1280x720 frame with one portrait scaled so its face is about `face_width` px wide."""
    portrait = load_image(data_dir / "faces" / "004_neutral.jpg")  # face ~250 px wide in 640 px
    small = cv2.resize(portrait, None, fx=face_width / 250, fy=face_width / 250, interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[100:100 + small.shape[0], 300:300 + small.shape[1]] = small
    return frame


def run(frame: np.ndarray, calibration_dir: Path | None) -> tuple[int, dict]:
    settings = PipelineSettings(detect_every=1)
    dirs = (calibration_dir,) if calibration_dir else ()
    engine = FaceEngine(EngineConfig(detection=settings.engine().config.detection, calibration_dirs=dirs))
    session = CountingSession()
    pipeline = FramePipeline(session, settings, engine=engine)
    for index in range(8):
        pipeline.process(index, index / 10, frame)
    pipeline.finish(flush=True)
    return session.searches, pipeline.totals


def test_the_bundled_calibration_records_the_measured_minimum() -> None:
    calibration = find_calibration("dlib-resnet-v1")
    evidence = calibration.extra["min_inter_eye"]
    assert calibration.min_inter_eye == evidence["value"] > 0
    assert "bench/face_size.py" in evidence["command"] and len(evidence["by_size"]) >= 6


def test_small_faces_are_counted_but_not_searched(data_dir: Path, tmp_path: Path) -> None:
    bundled = json.loads((BUNDLED_DIR / "dlib-resnet-v1.json").read_text())
    strict = {**bundled, "min_inter_eye": 1000.0}  # nothing is large enough
    (tmp_path / "dlib-resnet-v1.json").write_text(json.dumps(strict))
    frame = frames_with_face(data_dir, 120)
    searches, totals = run(frame, tmp_path)
    assert totals["faces_seen"] >= 6 and totals["tracks"] == 1
    assert searches == 0 and totals["embeddings"] == 0
    searches, totals = run(frame, None)  # the bundled minimum: a 120 px face is searched
    assert searches >= 1 and totals["embeddings"] >= 1


@pytest.mark.parametrize("width", [40])
def test_a_face_below_the_minimum_is_tracked_without_search(data_dir: Path, width: int) -> None:
    searches, totals = run(frames_with_face(data_dir, width), None)
    assert totals["faces_seen"] >= 6
    assert searches == 0
