"""The per-camera frame pipeline: frames in, candidate alerts out, and nothing else kept.

    detect (every Nth frame) -> track -> keep the best-quality sightings per track
        -> embed at most K per track -> session.search -> at most one alert per (track, subject)

The pipeline knows nothing of storage or governance: it talks to a `LiveSession`, which the service
layer implements (authorisation, the watchlist search with its threshold, alert storage, statistics).
A face that matches nothing is never stored anywhere: its crop is dropped when a better sighting
replaces it or its track ends, its template as soon as the search returns; only counts remain.

`run_pipeline` is what a worker process per camera calls; it returns when the source ends or fails,
when `stop` is set, or within `authorise_every_s` of the session saying the deployment is no longer
authorised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from overt.engine import Embedding, EngineConfig, Face, FaceEngine
from overt.engine.detect import DETECTORS, DetectorSettings

from .sources import FrameSource, SourceState, open_source
from .tracking import Observation, Track, Tracker, TrackerSettings


@dataclass(frozen=True)
class Candidate:
    """A watchlist subject whose template matched above the deployment's threshold."""

    subject_id: str
    score: float
    watchlist_id: str | None = None


@dataclass(frozen=True)
class Raised:
    """What the session did with a match: opened alert `alert_id`, or (`joined`) added sighting
    `sighting_id` to it because the same person was seen at the same place while it was open."""

    alert_id: str
    sighting_id: str = ""
    joined: bool = False


@dataclass(frozen=True)
class Counts:
    """What one camera did since the previous `record_counts` call; the only trace of unmatched faces.

    Deltas rather than totals, so a restarted worker can never count anything twice.
    """

    seconds: float  # wall-clock time covered
    frames: int  # frames processed
    frames_detected: int  # frames the face detector ran on
    faces_seen: int  # face detections (a person seen in 10 detected frames counts 10)
    tracks: int  # tracks confirmed (people seen)
    embeddings: int  # templates computed (and discarded after the search)
    alerts: int
    drops: int  # frames the live reader dropped because processing fell behind

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@runtime_checkable
class LiveSession(Protocol):
    """What the pipeline needs from the service layer for one camera under one authorised deployment."""

    def authorised(self) -> bool:
        """Whether processing may continue; re-checked every few seconds, the pipeline stops when False."""
        ...

    def search(self, embedding: Embedding) -> list[Candidate]:
        """Subjects of the deployment's watchlists that match above its threshold, best first."""
        ...

    def raise_alert(
        self,
        candidate: Candidate,
        track_id: int,
        frame_index: int,
        time: float,
        face_crop: np.ndarray,
        frame_thumbnail: np.ndarray,
    ) -> Raised:
        """Store a candidate alert for human review (the only place pixels go), or a sighting of an open one."""
        ...

    def record_counts(self, counts: Counts) -> None:
        """Add this period's counts to the deployment's statistics."""
        ...


class StopSignal(Protocol):
    """threading.Event and multiprocessing.Event both fit."""

    def is_set(self) -> bool: ...


class PipelineState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"  # the source lost its stream and is retrying
    ENDED = "ended"  # the source played to its end
    STOPPED = "stopped"  # the stop signal was set
    UNAUTHORISED = "unauthorised"  # the session withdrew authorisation
    FAILED = "failed"  # the source failed; see last_error


@dataclass(frozen=True)
class PipelineSettings:
    """Defaults chosen by bench/streams.py on 2 CPU cores (docs/bench-streams.md)."""

    detect_every: int = 3  # run the detector on every Nth source frame; tracks bridge the gaps
    detector: str = "hog"
    min_face: int = 100  # smallest face (pixels) to detect; sets the detector's working scale
    max_side: int = 1280  # cap on the detector's working copy
    embeds_per_frame: int = 1  # embeddings per frame, on frames without detection when detect_every > 1
    crop_margin: float = 0.5  # face crop margin, in face sizes, each side (alignment and review need context)
    thumbnail_side: int = 320  # longest side of the scene thumbnail sent with an alert
    authorise_every_s: float = 2.0
    health_every_s: float = 1.0
    counts_every_s: float = 30.0
    read_timeout_s: float = 0.25  # how long to wait for a frame before checking stop and authorisation
    tracker: TrackerSettings = field(default_factory=TrackerSettings)

    def engine(self) -> FaceEngine:
        detection = DetectorSettings(min_face=self.min_face, max_side=self.max_side)
        return FaceEngine(EngineConfig(detector=self.detector, detection=detection))


@dataclass(frozen=True)
class Health:
    """A camera's live status, for the supervisor and the operators' console."""

    state: PipelineState
    source_state: SourceState
    fps_in: float  # frames decoded by the source per second, dropped ones included
    fps_out: float  # frames processed per second
    lag_s: float  # mean age of frames when their processing finished (live sources)
    frames: int
    drops: int
    faces_seen: int
    tracks_active: int
    alerts: int
    last_error: str | None
    uptime_s: float

    def to_json(self) -> dict:
        return _json(self)


@dataclass(frozen=True)
class Summary:
    """Totals for one run; `state` and `last_error` say why it ended."""

    frames: int
    frames_detected: int
    faces_seen: int
    tracks: int
    embeddings: int
    alerts: int
    drops: int
    reconnects: int
    seconds: float
    lag_mean_s: float
    lag_max_s: float
    state: PipelineState
    last_error: str | None

    def to_json(self) -> dict:
        return _json(self)


def _json(record: object) -> dict:
    """A dataclass record as plain JSON values (states as their names)."""
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    return {name: str(v) if isinstance(v, StrEnum) else v for name, v in values.items()}


# Events passed to `on_event`: ids, counts and times only, never pixels or templates.


@dataclass(frozen=True)
class TrackStarted:
    track_id: int
    frame_index: int
    time: float


@dataclass(frozen=True)
class TrackEnded:
    track_id: int
    first_frame: int
    last_frame: int
    embeddings: int
    alerts: int


@dataclass(frozen=True)
class AlertRaised:
    alert_id: str
    track_id: int
    subject_id: str
    score: float
    frame_index: int
    time: float


@dataclass(frozen=True)
class SightingAdded:
    """The same person seen again while their alert was open: a sighting of it, not a new alert."""

    alert_id: str
    sighting_id: str
    track_id: int
    subject_id: str
    score: float
    frame_index: int
    time: float


@dataclass(frozen=True)
class HealthReport:
    health: Health


@dataclass(frozen=True)
class Stopped:
    summary: Summary


StreamEvent = TrackStarted | TrackEnded | AlertRaised | SightingAdded | HealthReport | Stopped


def _shifted(face: Face, dx: int, dy: int) -> Face:
    """The same face in a crop whose origin is (dx, dy) in the frame."""
    x, y, w, h = face.box
    offset = np.array([dx, dy], np.float32)
    return Face(box=(x - dx, y - dy, w, h), confidence=face.confidence, landmarks=face.landmarks - offset,
                detector=face.detector, raw_points=face.raw_points - offset)


def thumbnail(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image.copy()
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


class FramePipeline:
    """The stateful part of a camera's pipeline, one frame at a time; `run_pipeline` drives it."""

    def __init__(
        self,
        session: LiveSession,
        settings: PipelineSettings | None = None,
        engine: FaceEngine | None = None,
        on_event: Callable[[StreamEvent], None] | None = None,
    ) -> None:
        self.session = session
        self.settings = settings or PipelineSettings()
        if self.settings.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.settings.detector!r}")
        self.engine = engine or self.settings.engine()
        _ = self.engine.detector, self.engine.embedder  # load the models now, not on the first frame
        self.tracker = Tracker(self.settings.tracker)
        self._ending: list[Track] = []  # ended tracks whose last pending sighting is still to be embedded
        self.on_event = on_event
        self.totals = {f.name: 0 for f in fields(Counts) if f.name != "seconds"}
        self._next_detect = 0

    def process(self, frame_index: int, time_s: float, image: np.ndarray) -> None:
        """Detect, track and keep the best sightings on every Nth frame; embed on the frames between.

        Detection (~35 ms at 1280x720) and embedding (~60 ms a face) never share a frame when N > 1, so
        no single frame needs much more than its share of a 10 fps interval and a live source rarely drops.
        """
        self.totals["frames"] += 1
        if frame_index >= self._next_detect:
            self._next_detect = frame_index + self.settings.detect_every
            self._detect(frame_index, time_s, image)
            if self.settings.detect_every > 1:
                return
        self._embed_round(self.settings.embeds_per_frame)

    def _detect(self, frame_index: int, time_s: float, image: np.ndarray) -> None:
        self.totals["frames_detected"] += 1
        faces = self.engine.detect(image)
        self.totals["faces_seen"] += len(faces)
        update = self.tracker.update(frame_index, [f.box for f in faces], (image.shape[1], image.shape[0]))
        for track in update.confirmed:
            self.totals["tracks"] += 1
            self.emit(TrackStarted(track.id, frame_index, time_s))
        small = None
        for face, track in zip(faces, update.assigned, strict=True):
            if track.satisfied(self.settings.tracker):
                continue
            quality = self.engine.assess(image, face).score
            if not track.wants(quality, self.settings.tracker):
                continue
            if small is None:
                small = thumbnail(image, self.settings.thumbnail_side)
            observation = self._observe(frame_index, time_s, image, face, quality, small)
            track.offer(observation, self.settings.tracker)
        self._ending.extend(update.ended)
        self._close_ended()

    def finish(self, flush: bool) -> None:
        """End every track now; `flush` embeds what is still pending (not after a stop or a withdrawal)."""
        self._ending.extend(self.tracker.finish())
        for track in self._ending:
            while flush and self._embed(track):
                pass
            track.release()
        self._close_ended()

    def retained(self) -> int:
        """Face crops held right now; zero once every track has ended and been embedded."""
        return self.tracker.retained() + sum(len(t.pending) for t in self._ending)

    def _observe(self, frame_index: int, time_s: float, image: np.ndarray, face: Face, quality: float,
                 small: np.ndarray) -> Observation:
        x, y, w, h = face.box
        margin = int(round(self.settings.crop_margin * max(w, h)))
        x0, y0 = max(0, x - margin), max(0, y - margin)
        x1, y1 = min(image.shape[1], x + w + margin), min(image.shape[0], y + h + margin)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])  # a copy: the frame itself is not retained
        return Observation(frame_index, time_s, quality, _shifted(face, x0, y0), crop, small)

    def _embed_round(self, budget: int) -> None:
        """Embed the most useful pending sightings: people not yet searched first, then leaving ones."""
        ready = [t for t in self.tracker.tracks if t.confirmed and t.pending] + self._ending
        ready.sort(key=lambda t: (t.embeds > 0, t not in self._ending,
                                  -(t.pending[0].quality if t.pending else 0.0) + (t.best_embedded or 0.0)))
        for track in ready[:budget]:
            self._embed(track)
        self._close_ended()

    def _close_ended(self) -> None:
        """Report ended tracks that have nothing left to embed, and drop them."""
        for track in [t for t in self._ending if not t.pending or t.embeds >= self.settings.tracker.keep]:
            track.release()
            self._ending.remove(track)
            self.emit(TrackEnded(track.id, track.first_frame, track.last_frame, track.embeds,
                                 len(track.alerted)))

    def _embed(self, track: Track) -> bool:
        """Embed the track's best pending sighting and search it; False when there was none."""
        observation = track.take_best(self.settings.tracker)
        if observation is None:
            return False
        embedding = self.engine.embed(observation.crop, observation.face)
        self.totals["embeddings"] += 1
        for candidate in self.session.search(embedding):
            if candidate.subject_id in track.alerted:
                continue
            track.alerted.add(candidate.subject_id)
            raised = self.session.raise_alert(candidate, track.id, observation.frame_index,
                                              observation.time, observation.crop, observation.thumbnail)
            if raised.joined:
                self.emit(SightingAdded(raised.alert_id, raised.sighting_id, track.id, candidate.subject_id,
                                        candidate.score, observation.frame_index, observation.time))
                continue
            self.totals["alerts"] += 1
            self.emit(AlertRaised(raised.alert_id, track.id, candidate.subject_id, candidate.score,
                                   observation.frame_index, observation.time))
        return True

    def emit(self, event: StreamEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)


class _Meter:
    """Rates, lag and periodic reporting for `run_pipeline`."""

    def __init__(self, pipeline: FramePipeline, source: FrameSource, settings: PipelineSettings) -> None:
        self.pipeline, self.source, self.settings = pipeline, source, settings
        self.started = self.last_health = self.last_counts = time.monotonic()
        self.read_at_health = 0
        self.frames_at_health = 0
        self.reported = dict(pipeline.totals, drops=0)
        self.lag_sum = self.lag_window_sum = self.lag_max = 0.0
        self.lag_count = self.lag_window_count = 0

    def frame_done(self, received: float) -> None:
        lag = time.monotonic() - received
        self.lag_sum += lag
        self.lag_window_sum += lag
        self.lag_count += 1
        self.lag_window_count += 1
        self.lag_max = max(self.lag_max, lag)

    def tick(self, state: PipelineState) -> None:
        now = time.monotonic()
        if now - self.last_health >= self.settings.health_every_s:
            self.pipeline.emit(HealthReport(self.health(state, now)))
        if now - self.last_counts >= self.settings.counts_every_s:
            self.record_counts(now)

    def health(self, state: PipelineState, now: float) -> Health:
        stats = self.source.stats()
        dt = max(now - self.last_health, 1e-6)
        totals = self.pipeline.totals
        health = Health(
            state=state,
            source_state=stats.state,
            fps_in=(stats.frames_read - self.read_at_health) / dt,
            fps_out=(totals["frames"] - self.frames_at_health) / dt,
            lag_s=self.lag_window_sum / max(self.lag_window_count, 1),
            frames=totals["frames"],
            drops=stats.dropped,
            faces_seen=totals["faces_seen"],
            tracks_active=sum(t.confirmed for t in self.pipeline.tracker.tracks),
            alerts=totals["alerts"],
            last_error=stats.last_error,
            uptime_s=now - self.started,
        )
        self.last_health, self.read_at_health = now, stats.frames_read
        self.frames_at_health = totals["frames"]
        self.lag_window_sum, self.lag_window_count = 0.0, 0
        return health

    def record_counts(self, now: float) -> None:
        current = dict(self.pipeline.totals, drops=self.source.stats().dropped)
        delta = {k: v - self.reported[k] for k, v in current.items()}
        self.pipeline.session.record_counts(Counts(seconds=now - self.last_counts, **delta))
        self.reported, self.last_counts = current, now

    def summary(self, state: PipelineState, last_error: str | None) -> Summary:
        stats = self.source.stats()
        totals = self.pipeline.totals
        return Summary(
            frames=totals["frames"],
            frames_detected=totals["frames_detected"],
            faces_seen=totals["faces_seen"],
            tracks=totals["tracks"],
            embeddings=totals["embeddings"],
            alerts=totals["alerts"],
            drops=stats.dropped,
            reconnects=stats.reconnects,
            seconds=time.monotonic() - self.started,
            lag_mean_s=self.lag_sum / max(self.lag_count, 1),
            lag_max_s=self.lag_max,
            state=state,
            last_error=last_error,
        )


def run_pipeline(
    source: FrameSource | str,
    session: LiveSession,
    settings: PipelineSettings | None = None,
    on_event: Callable[[StreamEvent], None] | None = None,
    stop: StopSignal | None = None,
    engine: FaceEngine | None = None,
) -> Summary:
    """Run one camera until its source ends or fails, `stop` is set, or authorisation is withdrawn.

    A source given as a spec is opened here; the source is always closed on return. Exceptions from
    the session propagate (the worker's supervisor restarts the worker), after the source is closed.
    """
    settings = settings or PipelineSettings()
    source = open_source(source) if isinstance(source, str) else source
    pipeline = FramePipeline(session, settings, engine, on_event)
    meter = _Meter(pipeline, source, settings)
    state, last_error = PipelineState.STARTING, None
    next_check = time.monotonic()
    try:
        while True:
            if stop is not None and stop.is_set():
                state, last_error = PipelineState.STOPPED, "stop requested"
                break
            if time.monotonic() >= next_check:
                if not session.authorised():
                    state, last_error = PipelineState.UNAUTHORISED, "the deployment is no longer authorised"
                    break
                next_check = time.monotonic() + settings.authorise_every_s
            frame = source.read(timeout=settings.read_timeout_s)
            if frame is None:
                if source.finished:
                    failed = source.state is SourceState.FAILED
                    state = PipelineState.FAILED if failed else PipelineState.ENDED
                    last_error = source.last_error
                    break
                if source.state is SourceState.RECONNECTING:
                    state = PipelineState.RECONNECTING
            else:
                state = PipelineState.RUNNING
                pipeline.process(frame.index, frame.time, frame.image)
                meter.frame_done(frame.received)
            meter.tick(state)
    finally:
        source.close()
        pipeline.finish(flush=state in (PipelineState.ENDED, PipelineState.FAILED))
    meter.record_counts(time.monotonic())
    summary = meter.summary(state, last_error)
    pipeline.emit(Stopped(summary))
    return summary
