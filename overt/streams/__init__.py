"""Live video: frame sources, face tracking and the per-camera pipeline, independent of storage.

    from overt.streams import open_source, run_pipeline, PipelineSettings
    summary = run_pipeline(open_source("rtsp://camera/stream"), session, PipelineSettings(), stop=stop_event)

`session` is the service layer's `LiveSession` for one camera under one authorised deployment;
the pipeline never touches the database or the gate itself. `synthetic` renders test scenes with
ground truth and `mjpeg` serves frames as an MJPEG camera, for tests, the demo and the benchmark.
"""

from .mjpeg import MjpegServer
from .pipeline import (
    AlertRaised,
    Candidate,
    Counts,
    FramePipeline,
    Health,
    HealthReport,
    LiveSession,
    PipelineSettings,
    PipelineState,
    Raised,
    SightingAdded,
    Stopped,
    StopSignal,
    StreamEvent,
    Summary,
    TrackEnded,
    TrackStarted,
    run_pipeline,
)
from .sources import Frame, FrameSource, SourceError, SourceSettings, SourceState, SourceStats, open_source
from .synthetic import GroundTruth, PersonSpec, london_faces, make_scene_video, walkers
from .tracking import Observation, Track, Tracker, TrackerSettings

__all__ = [
    "AlertRaised",
    "Candidate",
    "Counts",
    "Frame",
    "FramePipeline",
    "FrameSource",
    "GroundTruth",
    "Health",
    "HealthReport",
    "LiveSession",
    "MjpegServer",
    "Observation",
    "PersonSpec",
    "PipelineSettings",
    "PipelineState",
    "Raised",
    "SightingAdded",
    "SourceError",
    "SourceSettings",
    "SourceState",
    "SourceStats",
    "StopSignal",
    "Stopped",
    "StreamEvent",
    "Summary",
    "Track",
    "TrackEnded",
    "TrackStarted",
    "Tracker",
    "TrackerSettings",
    "london_faces",
    "make_scene_video",
    "open_source",
    "run_pipeline",
    "walkers",
]
