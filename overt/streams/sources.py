"""Frame sources: video files, network streams (RTSP, HTTP/MJPEG), cameras and image folders.

One interface for every camera type, so the pipeline never cares where frames come from:
`open_source(spec)` returns a FrameSource whose `read()` gives RGB frames until the source ends.

Files and folders are read on demand and play to their end. Live sources (URLs, cameras, or a file
paced at its own frame rate with `realtime=True`) are read by a background thread that keeps only the
latest frame: when processing falls behind, older frames are dropped and counted rather than queued,
so memory stays flat however slow the consumer is. Network streams and cameras reconnect with
exponential backoff, a bounded number of times, and then fail with a clear `last_error`.

Backends (measured on 1280x720, see docs/bench-streams.md): PyAV for files and URLs, because it
gives open/read timeouts (a dead server cannot hang a worker), typed errors that can be reported,
and real timestamps; decoding costs the same CPU as OpenCV's FFmpeg backend. OpenCV for local
cameras, because this PyAV build has no v4l2 input.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import av
import cv2
import numpy as np

from overt.engine import ImageError, load_image

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".ts", ".mjpeg", ".mjpg"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm"})
URL_SCHEMES = ("rtsp", "rtsps", "http", "https")


class SourceError(Exception):
    """The spec cannot name a source (unknown scheme, missing path); runtime failures are states instead."""


class SourceState(StrEnum):
    OPENING = "opening"  # connecting or opening the file
    RUNNING = "running"  # delivering frames
    RECONNECTING = "reconnecting"  # a network stream or camera dropped; waiting to retry
    ENDED = "ended"  # a file or folder played to its end with nothing lost
    FAILED = "failed"  # stopped by an error (unreadable, truncated, retries exhausted); see last_error
    CLOSED = "closed"  # closed by its owner


FINISHED = frozenset({SourceState.ENDED, SourceState.FAILED, SourceState.CLOSED})


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    `index` counts frames decoded from the source (gaps mean frames dropped by a live reader);
    `time` is source time in seconds: the timestamp for files, time since opening for live streams
    (their own clocks restart on every reconnect); `received` is time.monotonic() at decoding, for lag.
    """

    index: int
    time: float
    image: np.ndarray  # (h, w, 3) uint8 RGB
    received: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class SourceSettings:
    """How to read a source; defaults suit a worker that must never hang on a dead camera."""

    live: bool | None = None  # None: URLs and cameras are live, files and folders are not
    realtime: bool = False  # pace a file at its frame rate and read it as a live camera (demo, benchmark)
    attempts: int = 5  # consecutive failures (a drop counts as the first) before a live source gives up
    backoff_s: float = 0.5  # wait after the first failure; doubles after each further one
    backoff_max_s: float = 8.0
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    rtsp_transport: str = "tcp"  # tcp survives lossy networks and NAT better than udp
    ca_file: str | None = None  # https/rtsps: verify the camera's certificate against it (FFmpeg won't otherwise)
    max_decode_errors: int = 100  # corrupt packets skipped before a file counts as unreadable


@dataclass(frozen=True)
class SourceStats:
    """Counters for health reporting; `dropped` are frames a live reader replaced before they were read."""

    state: SourceState
    frames_read: int
    frames_delivered: int
    dropped: int
    reconnects: int
    decode_errors: int
    last_error: str | None

    def to_json(self) -> dict:
        return {**self.__dict__, "state": str(self.state)}


class _Lost(Exception):
    """A connection or file stopped delivering; the message says why."""


def classify(spec: str | int) -> tuple[str, str | int]:
    """(kind, target): kind is 'device', 'url', 'folder' or 'file'; raises SourceError when it is none."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return "device", int(spec)
    text = str(spec)
    if re.match(r"^/dev/video\d+$", text):
        return "device", text
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme:
        if scheme not in URL_SCHEMES:
            raise SourceError(f"unsupported stream scheme {scheme!r} (use {', '.join(URL_SCHEMES)})")
        return "url", text
    path = Path(text)
    if path.is_dir():
        return "folder", str(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        expected = ", ".join(sorted(VIDEO_SUFFIXES))
        raise SourceError(f"{path.name}: not a video file (expected one of {expected})")
    return "file", str(path)


def redact(url: str) -> str:
    """A URL without its password, fit for logs and error messages."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def _expected_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                     rate: float | None) -> int:
    """How many frames the video stream itself announces: its frame count, else its own duration × rate.

    The container's duration is the longest stream's — an audio track that runs on past the picture
    made a complete clip look truncated (275 of 300 frames) — so it is used only when the video stream
    states neither.
    """
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    else:
        seconds = container.duration / av.time_base if container.duration else 0.0
    return int(round(seconds * (rate or 0)))


class FrameSource:
    """Frames from one source, with its state, last error and counters; see the module docstring."""

    def __init__(self, spec: str | int, settings: SourceSettings | None = None) -> None:
        self.settings = settings or SourceSettings()
        self.kind, self._target = classify(spec)
        self.spec = redact(str(spec))
        self.reconnects_allowed = self.kind in ("url", "device")
        self.live = self.settings.realtime or (
            self.settings.live if self.settings.live is not None else self.kind in ("url", "device")
        )
        self._state = SourceState.OPENING
        self.last_error: str | None = None
        self._damaged = False  # a file lost data (corrupt packets, truncation, unreadable images)
        self._frames_read = self._delivered = self._dropped = self._reconnects = self._decode_errors = 0
        self._closing = threading.Event()
        self._lock = threading.Condition()
        self._latest: Frame | None = None
        self._thread: threading.Thread | None = None
        self._frames: Iterator[Frame] | None = None
        self._opened_at = time.monotonic()

    # -- public ---------------------------------------------------------------------------------

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def finished(self) -> bool:
        """True once no further frame will come (ended, failed or closed)."""
        with self._lock:
            return self._state is SourceState.CLOSED or (self._state in FINISHED and self._latest is None)

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame; None if none arrived within `timeout` (live sources) or the source finished."""
        if self._state is SourceState.CLOSED:
            return None
        if not self.live:
            if self._frames is None:
                self._frames = self._produce()
            try:
                frame = next(self._frames, None)
            except Exception as exc:  # a decoder bug must end the source, not the worker
                self.last_error = f"the reader stopped: {_describe(exc)}"
                self._set_state(SourceState.FAILED)
                return None
            if frame is not None:
                self._delivered += 1
            return frame
        if self._thread is None:
            self._thread = threading.Thread(target=self._run_reader, name=f"source {self.spec}", daemon=True)
            self._thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._latest is None and self._state not in FINISHED:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._lock.wait(remaining)
            frame, self._latest = self._latest, None
            if frame is not None:
                self._delivered += 1
            return frame

    def __iter__(self) -> Iterator[Frame]:
        while not self.finished:
            frame = self.read(timeout=0.5)
            if frame is not None:
                yield frame

    def stats(self) -> SourceStats:
        return SourceStats(self._state, self._frames_read, self._delivered, self._dropped, self._reconnects,
                           self._decode_errors, self.last_error)

    def close(self) -> None:
        """Stop reading and release the decoder; a reader thread exits within the read timeout."""
        self._closing.set()
        with self._lock:
            self._set_state(SourceState.CLOSED)
            self._latest = None
            self._lock.notify_all()
        if self._frames is not None:
            self._frames.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.settings.read_timeout_s + 1.0)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FrameSource {self.kind} {self.spec} {self._state}>"

    # -- the reading loop, shared by the on-demand and the threaded reader -------------------------

    def _set_state(self, state: SourceState) -> None:
        if self._state is not SourceState.CLOSED:
            self._state = state

    def _run_reader(self) -> None:
        """Live reader thread: keep only the newest frame, count the ones it replaces."""
        try:
            for frame in self._produce():
                with self._lock:
                    if self._closing.is_set():
                        break
                    if self._latest is not None:
                        self._dropped += 1
                    self._latest = frame
                    self._lock.notify_all()
        except Exception as exc:  # whatever breaks the reader, the consumer must learn it rather than wait
            self.last_error = f"the reader stopped: {_describe(exc)}"
            self._set_state(SourceState.FAILED)
        finally:
            with self._lock:
                self._lock.notify_all()

    def _produce(self) -> Iterator[Frame]:
        """Frames until the end, reconnecting live network sources and cameras with backoff."""
        failures = 0
        while not self._closing.is_set():
            self._set_state(SourceState.OPENING if failures == 0 else SourceState.RECONNECTING)
            delivered_before = self._frames_read
            try:
                for image, stamp in self._decode():
                    if self._closing.is_set():
                        return
                    self._set_state(SourceState.RUNNING)
                    stamp = stamp if stamp is not None else time.monotonic() - self._opened_at
                    self._frames_read += 1
                    yield Frame(self._frames_read - 1, stamp, image)
                if not (self.reconnects_allowed and self.live):
                    self._set_state(SourceState.FAILED if self._damaged else SourceState.ENDED)
                    return
                raise _Lost("the stream ended")
            except (_Lost, av.FFmpegError, OSError) as exc:
                self.last_error = _describe(exc)
                if not self.reconnects_allowed:
                    self._set_state(SourceState.FAILED)
                    return
            if self._closing.is_set():
                return
            failures = 1 if self._frames_read > delivered_before else failures + 1
            if failures >= self.settings.attempts:
                self.last_error = f"gave up after {failures} failed attempts: {self.last_error}"
                self._set_state(SourceState.FAILED)
                return
            self._set_state(SourceState.RECONNECTING)
            self._reconnects += 1
            wait = min(self.settings.backoff_s * 2 ** (failures - 1), self.settings.backoff_max_s)
            self._closing.wait(wait)

    def _decode(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """(RGB image, source time or None for 'use the wall clock') per decoded frame."""
        if self.kind == "device":
            yield from self._decode_camera()
        elif self.kind == "folder":
            yield from self._decode_folder()
        else:
            yield from self._decode_av()

    def _decode_av(self) -> Iterator[tuple[np.ndarray, float | None]]:
        s = self.settings
        options = {"rtsp_transport": s.rtsp_transport} if str(self._target).startswith("rtsp") else {}
        if s.ca_file is not None:
            options.update(tls_verify="1", ca_file=s.ca_file)
        container = av.open(str(self._target), options=options, timeout=(s.open_timeout_s, s.read_timeout_s))
        try:
            if not container.streams.video:
                raise _Lost("no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0) or None
            expected = _expected_frames(container, stream, rate) if self.kind == "file" else 0
            started, origin = time.monotonic(), None
            count = 0
            wall_clock = self.kind == "url"
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.InvalidDataError as exc:
                    self._decode_errors += 1
                    self._damaged = True
                    self.last_error = f"skipped {self._decode_errors} corrupt packets: {_describe(exc)}"
                    if self._decode_errors > s.max_decode_errors:
                        raise _Lost(f"too many corrupt packets ({self._decode_errors})") from None
                    continue
                for frame in decoded:
                    stamp = None if wall_clock or frame.time is None else float(frame.time)
                    if self.settings.realtime:
                        at = stamp if stamp is not None else count / (rate or 25.0)
                        origin = at if origin is None else origin
                        due = started + at - origin
                        if self._closing.wait(max(0.0, due - time.monotonic())):
                            return
                    count += 1
                    yield frame.to_ndarray(format="rgb24"), stamp
            if expected and count < expected - max(2, expected // 50):
                self._damaged = True
                self.last_error = f"the file ended early: {count} of {expected} frames (truncated or corrupt)"
        finally:
            container.close()

    def _decode_camera(self) -> Iterator[tuple[np.ndarray, float | None]]:
        target = self._target
        capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
        try:
            if not capture.isOpened():
                raise _Lost(f"cannot open camera {target}")
            while True:
                ok, bgr = capture.read()
                if not ok:
                    raise _Lost(f"camera {target} stopped delivering frames")
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None
        finally:
            capture.release()

    def _decode_folder(self) -> Iterator[tuple[np.ndarray, float | None]]:
        paths = sorted(p for p in Path(str(self._target)).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise _Lost("the folder holds no images")
        skipped = []
        for number, path in enumerate(paths):
            try:
                image = load_image(path)
            except ImageError as exc:
                self._decode_errors += 1
                skipped.append(f"{path.name} ({exc})")
                continue
            yield image, float(number)
        if skipped:
            self._damaged = True
            self.last_error = f"{len(skipped)} unreadable images skipped: {'; '.join(skipped[:3])}"


def _describe(exc: BaseException) -> str:
    """An error message without the stream's password or FFmpeg's error number."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return redact(f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror)
    return redact(str(exc) or type(exc).__name__)


def open_source(spec: str | int, settings: SourceSettings | None = None) -> FrameSource:
    """A FrameSource for a video file, an RTSP/HTTP(S) URL, a camera (/dev/videoN or N) or an image folder.

    Raises SourceError only when `spec` cannot name a source; everything that goes wrong while reading
    is reported by the source's `state` and `last_error`.
    """
    return FrameSource(spec, settings)
