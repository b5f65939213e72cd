"""The per-camera pipeline on synthetic scenes of real faces, against a real in-test LiveSession.

The session searches a small gallery of real dlib templates (the London set's smiling photos) with
numpy: the contract's simplest real implementation. The scenes show the neutral photos, so every
match is between two different photographs of the same person.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from overt.engine import Embedding, FaceEngine
from overt.streams import (
    AlertRaised,
    Candidate,
    Counts,
    FramePipeline,
    HealthReport,
    LiveSession,
    MjpegServer,
    PersonSpec,
    PipelineSettings,
    PipelineState,
    Raised,
    SourceSettings,
    Stopped,
    TrackEnded,
    Tracker,
    TrackerSettings,
    london_faces,
    make_scene_video,
    open_source,
    run_pipeline,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_skip_without_data = pytest.mark.skipif(
    not (DATA / "faces" / "labels.csv").is_file(),
    reason=f"needs the London face set and backgrounds in {DATA} (../shared/data from the repo root)",
)


def needs_data(test):
    """Marks a test as reading ../shared/data, and skips it with the reason when that is absent."""
    return pytest.mark.shared(_skip_without_data(test))
THRESHOLD = 0.95  # dlib templates, unit length: London impostor pairs stay below 0.94, genuine above 0.96
SIZE = (960, 540)
SETTINGS = PipelineSettings(min_face=80, detect_every=3)


@dataclass
class GallerySession:
    """A LiveSession over an in-memory gallery: exact cosine search, alerts kept in a list."""

    gallery: dict[str, np.ndarray]
    threshold: float = THRESHOLD
    authorised_until: float = float("inf")  # time.monotonic() after which authorisation is withdrawn
    alerts: list[dict] = field(default_factory=list)
    counts: list[Counts] = field(default_factory=list)
    searches: int = 0

    def __post_init__(self) -> None:
        self._ids = list(self.gallery)
        self._matrix = np.stack([self.gallery[i] for i in self._ids]) if self._ids else np.zeros((0, 128))

    def authorised(self) -> bool:
        return time.monotonic() < self.authorised_until

    def search(self, embedding: Embedding) -> list[Candidate]:
        self.searches += 1
        scores = self._matrix @ embedding.vector
        order = np.argsort(-scores)
        return [Candidate(self._ids[i], float(scores[i]), "test-watchlist") for i in order
                if scores[i] >= self.threshold]

    def raise_alert(self, candidate: Candidate, track_id: int, frame_index: int, time: float,
                    face_crop: np.ndarray, frame_thumbnail: np.ndarray) -> Raised:
        self.alerts.append({"subject": candidate.subject_id, "track": track_id, "frame": frame_index,
                            "time": time, "crop": face_crop.shape, "thumbnail": frame_thumbnail.shape})
        return Raised(f"alert-{len(self.alerts)}")

    def record_counts(self, counts: Counts) -> None:
        self.counts.append(counts)


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return SETTINGS.engine()


@pytest.fixture(scope="module")
def people() -> dict[str, dict[str, Path]]:
    if not (DATA / "faces" / "labels.csv").is_file():
        pytest.skip(f"needs the London face set in {DATA}")
    neutral, smiling = dict(london_faces(DATA, "neutral")), dict(london_faces(DATA, "smiling"))
    return {"neutral": neutral, "smiling": smiling}


@pytest.fixture(scope="module")
def gallery(people: dict, engine: FaceEngine) -> dict[str, np.ndarray]:
    """Eight enrolled subjects, from their smiling photos."""
    enrolled = {}
    for identity in sorted(people["smiling"])[:8]:
        image = engine.load(people["smiling"][identity])
        enrolled[identity] = engine.embed(image, engine.detect(image)[0]).vector
    return enrolled


@pytest.fixture(scope="module")
def scene(people: dict, engine: FaceEngine, tmp_path_factory: pytest.TempPathFactory):
    """10 s: enrolled A crosses twice, enrolled B once, two people not enrolled cross once each."""
    ids = sorted(people["neutral"])
    a, b, c, d = ids[0], ids[1], ids[50], ids[60]
    photo = people["neutral"]
    cast = [
        PersonSpec(photo[a], a, 0.0, 4.0, (-0.1, 0.35), (1.1, 0.4), (100, 125)),
        PersonSpec(photo[b], b, 0.5, 5.0, (1.1, 0.65), (-0.1, 0.65), (120, 95)),
        PersonSpec(photo[c], c, 1.0, 6.0, (-0.1, 0.75), (1.1, 0.3), (105, 105)),
        PersonSpec(photo[d], d, 5.0, 9.6, (-0.1, 0.55), (1.1, 0.6), (95, 120)),
        PersonSpec(photo[a], a, 6.0, 9.6, (1.1, 0.35), (-0.1, 0.45), (110, 110)),
    ]
    path = tmp_path_factory.mktemp("scene") / "scene.mp4"
    background = DATA / "backgrounds" / "road-1072821_640.jpg"
    truth = make_scene_video(path, cast, background, size=SIZE, fps=10, seconds=10, seed=7, engine=engine)
    return path, truth, (a, b, c, d)


@pytest.fixture(scope="module")
def baseline_run(scene, gallery, engine):
    """One run over the scene with the test settings, its session and its events."""
    path, _, _ = scene
    session, events = GallerySession(gallery), []
    summary = run_pipeline(open_source(str(path)), session, SETTINGS, on_event=events.append, engine=engine)
    return summary, session, events


# -- the contract ----------------------------------------------------------------------------------


def test_gallery_session_implements_the_live_session_protocol() -> None:
    assert isinstance(GallerySession({}), LiveSession)


@needs_data
def test_ground_truth_describes_the_scene(scene) -> None:
    _, truth, (a, b, c, d) = scene
    appearances = truth.appearances()
    assert [x.identity for x in appearances] == [a, b, c, d, a]
    assert truth.frame_count == 100 and truth.size == SIZE
    assert all(x.last_frame - x.first_frame >= 25 for x in appearances)
    record = json.loads(json.dumps(truth.to_json()))
    assert record["frame_count"] == 100 and len(record["appearances"]) == 5


@needs_data
def test_enrolled_person_alerts_once_per_appearance(baseline_run, scene) -> None:
    summary, session, events = baseline_run
    _, _, (a, b, _, _) = scene
    assert summary.state is PipelineState.ENDED and summary.last_error is None
    assert summary.tracks == 5, "each appearance is one track"
    by_subject = {}
    for alert in session.alerts:
        by_subject.setdefault(alert["subject"], []).append(alert["track"])
    assert set(by_subject) == {a, b}, "people not in the gallery raise no alert"
    assert len(by_subject[a]) == 2 and len(set(by_subject[a])) == 2, "appearing twice: two tracks, two alerts"
    assert len(by_subject[b]) == 1
    assert summary.alerts == 3 == len([e for e in events if isinstance(e, AlertRaised)])
    first = session.alerts[0]
    assert first["crop"][2] == 3 and min(first["crop"][:2]) >= 100
    assert max(first["thumbnail"][:2]) == SETTINGS.thumbnail_side


@needs_data
def test_tracks_are_embedded_at_most_k_times_and_ids_increase(baseline_run) -> None:
    summary, session, events = baseline_run
    ended = [e for e in events if isinstance(e, TrackEnded)]
    assert sorted(e.track_id for e in ended) == [1, 2, 3, 4, 5]
    assert all(1 <= e.embeddings <= SETTINGS.tracker.keep for e in ended)
    assert summary.embeddings == sum(e.embeddings for e in ended) == session.searches
    assert summary.embeddings < summary.faces_seen / 3, "far fewer embeddings than faces seen"


@needs_data
def test_only_counts_remain_and_they_add_up(baseline_run, scene) -> None:
    summary, session, events = baseline_run
    _, truth, _ = scene
    assert isinstance(events[-1], Stopped) and events[-1].summary == summary
    names = ("frames", "frames_detected", "faces_seen", "tracks", "embeddings", "alerts", "drops")
    total = {name: sum(getattr(c, name) for c in session.counts) for name in names}
    assert total == {"frames": 100, "frames_detected": 34, "faces_seen": summary.faces_seen, "tracks": 5,
                     "embeddings": summary.embeddings, "alerts": 3, "drops": 0}
    visible = sum(f.visible == 1.0 for faces in truth.frames[::SETTINGS.detect_every] for f in faces)
    assert 0.8 * visible <= summary.faces_seen <= visible + 5, "detections match the faces in view"


@needs_data
def test_no_face_crop_outlives_its_track(scene, gallery, engine) -> None:
    """Crops are held only while a track may still need them; nothing remains after the tracks end."""
    path, _, _ = scene
    session = GallerySession(gallery, threshold=1.1)  # nobody matches: every face is an unmatched face
    pipeline = FramePipeline(session, SETTINGS, engine)
    held = []
    with open_source(str(path)) as source:
        for frame in source:
            pipeline.process(frame.index, frame.time, frame.image)
            held.append(pipeline.retained())
    assert 0 < max(held) <= SETTINGS.tracker.keep * 3, "at most K crops per track"
    pipeline.finish(flush=True)
    assert pipeline.retained() == 0 and pipeline.tracker.tracks == []
    assert session.alerts == [] and pipeline.totals["embeddings"] == session.searches > 0


@needs_data
@pytest.mark.parametrize("every", [2, 5])
def test_detect_every_nth_frame(scene, gallery, engine, every: int) -> None:
    path, _, (a, b, _, _) = scene
    session = GallerySession(gallery)
    settings = PipelineSettings(min_face=SETTINGS.min_face, detect_every=every)
    summary = run_pipeline(open_source(str(path)), session, settings, engine=engine)
    assert summary.frames == 100 and summary.frames_detected == -(-100 // every)
    assert summary.tracks == 5
    assert sorted(x["subject"] for x in session.alerts) == sorted([a, a, b])


# -- stopping --------------------------------------------------------------------------------------


@needs_data
def test_withdrawn_authorisation_stops_the_pipeline_within_seconds(scene, gallery, engine) -> None:
    path, _, _ = scene
    started = time.monotonic()
    session = GallerySession(gallery, authorised_until=started + 1.5)
    settings = PipelineSettings(min_face=SETTINGS.min_face, authorise_every_s=0.5)
    events = []
    summary = run_pipeline(open_source(str(path), SourceSettings(realtime=True)), session, settings,
                           on_event=events.append, engine=engine)
    stopped_after = time.monotonic() - (started + 1.5)
    assert summary.state is PipelineState.UNAUTHORISED
    assert "no longer authorised" in summary.last_error
    assert stopped_after < 1.5, f"stopped {stopped_after:.1f} s after authorisation was withdrawn"
    assert 5 <= summary.frames < 40
    assert events[-1].summary.state is PipelineState.UNAUTHORISED


@needs_data
def test_never_authorised_processes_nothing(scene, gallery, engine) -> None:
    path, _, _ = scene
    session = GallerySession(gallery, authorised_until=0.0)
    summary = run_pipeline(str(path), session, SETTINGS, engine=engine)
    assert summary.state is PipelineState.UNAUTHORISED and summary.frames == 0 and session.searches == 0


@needs_data
def test_stop_event_stops_a_live_camera(scene, gallery, engine) -> None:
    path, _, _ = scene
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    started = time.monotonic()
    summary = run_pipeline(open_source(str(path), SourceSettings(realtime=True)), GallerySession(gallery),
                           SETTINGS, stop=stop, engine=engine)
    assert summary.state is PipelineState.STOPPED and time.monotonic() - started < 2.0


@needs_data
def test_a_slow_pipeline_drops_frames_instead_of_falling_behind(scene, gallery, engine) -> None:
    """Detecting every frame at twice the resolution needed is too slow for 10 fps: frames are dropped."""
    path, _, _ = scene
    session = GallerySession(gallery)
    settings = PipelineSettings(min_face=40, max_side=1920, detect_every=1, health_every_s=0.5)
    events, stop = [], threading.Event()
    threading.Timer(4.0, stop.set).start()
    camera = open_source(str(path), SourceSettings(realtime=True))
    summary = run_pipeline(camera, session, settings, on_event=events.append, stop=stop)
    health = [e.health for e in events if isinstance(e, HealthReport)]
    assert summary.state is PipelineState.STOPPED
    assert summary.drops > 0 and 25 <= summary.frames + summary.drops <= 42  # about 4 s at 10 fps
    assert sum(c.drops for c in session.counts) == summary.drops
    assert health and health[-1].drops > 0 and health[-1].fps_in > health[-1].fps_out > 0
    assert summary.lag_max_s < 1.0, "dropping keeps the lag bounded"


@needs_data
@pytest.mark.slow
def test_mjpeg_camera_end_to_end(scene, gallery, engine) -> None:
    """The network path: an MJPEG camera at 25 fps, the pipeline reading it live."""
    path, _, (a, b, _, _) = scene
    session = GallerySession(gallery)
    with MjpegServer(path, fps=25) as server:
        source = open_source(server.url, SourceSettings(attempts=2, backoff_s=0.2, open_timeout_s=2))
        summary = run_pipeline(source, session, SETTINGS, engine=engine)
    assert summary.state is PipelineState.FAILED and "gave up" in summary.last_error  # the camera went away
    assert summary.frames + summary.drops >= 90
    assert sorted(x["subject"] for x in session.alerts) == sorted([a, a, b])


# -- the tracker alone -----------------------------------------------------------------------------


def _walk(start: tuple[int, int], step: tuple[int, int], frames: range, size: int = 100):
    return {f: (start[0] + step[0] * f, start[1] + step[1] * f, size, size) for f in frames}


def test_tracker_keeps_one_person_one_track_across_missed_detections() -> None:
    tracker = Tracker(TrackerSettings(confirm_hits=2, max_missed=3))
    left_to_right = _walk((0, 100), (30, 0), range(0, 40, 3))
    right_to_left = _walk((1200, 400), (-30, 0), range(0, 40, 3))
    started, ended = [], []
    for frame in range(0, 60, 3):
        boxes = [w[frame] for w in (left_to_right, right_to_left) if frame in w and frame not in (12, 15, 27)]
        update = tracker.update(frame, boxes)
        started += [t.id for t in update.confirmed]
        ended += [t.id for t in update.ended]
    assert started == [1, 2] and sorted(ended) == [1, 2]
    assert tracker.confirmed_count == 2 and tracker.tracks == []


def test_tracker_ignores_a_single_false_detection_and_keeps_ids_increasing() -> None:
    tracker = Tracker(TrackerSettings(confirm_hits=2, max_missed=1))
    tracker.update(0, [(500, 500, 80, 80)])  # once, never again
    for frame in range(1, 4):
        tracker.update(frame, [(10 * frame, 0, 100, 100)])
    assert [t.id for t in tracker.tracks] == [1]
    for frame in range(4, 8):
        tracker.update(frame, [])
    for frame in range(8, 11):
        tracker.update(frame, [(10 * frame, 0, 100, 100)])
    assert [t.id for t in tracker.tracks] == [2] and tracker.confirmed_count == 2


def test_someone_entering_where_another_just_left_is_a_new_track() -> None:
    """Two lanes, opposite ways: A walks out on the right and B walks in there, just below."""
    a = _walk((900, 300), (30, 0), range(0, 12))  # last seen half out of the 1280 px frame
    b = {f: (1240 - 30 * (f - 13), 310, 100, 100) for f in range(13, 30)}  # where A's track predicts A
    for frame_size, expected in [((1280, 720), {1, 2}), (None, {1})]:
        tracker, ids = Tracker(TrackerSettings(confirm_hits=2, max_missed=4)), set()
        for frame in range(30):
            boxes = [w[frame] for w in (a, b) if frame in w]
            ids |= {t.id for t in tracker.update(frame, boxes, frame_size).assigned if t.confirmed}
        assert ids == expected, "without the frame size, B would continue A's track"
