"""One worker process per camera: restarted on crash with backoff, stopped cleanly, health reported.

dlib runs single-threaded, so processes (not threads) use the cores; a crash in one camera's decoder
or model never takes the others down. Workers reach the database only through the service layer.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .pipeline import HealthReport, PipelineSettings, Stopped, run_pipeline

EXIT_REFUSED = 5
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class CameraJob:
    deployment: int
    camera: str
    source: str
    operator: str

    @property
    def key(self) -> tuple[int, str]:
        return self.deployment, self.camera


def _worker(job: CameraJob, settings_data: dict[str, Any], pipeline: PipelineSettings, stop: Any,
            reports: Any) -> None:
    """Runs in its own process: open the gated session, run the pipeline, record why it stopped."""
    from ..config import Settings
    from ..governance.permissions import Refused
    from ..services import Actor, Overt

    overt = Overt(Settings(**settings_data))
    try:
        session = overt.live.open(Actor(job.operator, "operator"), job.deployment, job.camera)
    except Refused as exc:
        reports.put((job.key, {"state": "refused", "last_error": exc.message}))
        raise SystemExit(EXIT_REFUSED) from None

    def on_event(event: Any) -> None:
        if isinstance(event, HealthReport):
            reports.put((job.key, event.health.to_json()))
        elif isinstance(event, Stopped):
            reports.put((job.key, {**event.summary.to_json(), "last_error": event.summary.last_error}))

    summary = run_pipeline(job.source, session, pipeline, on_event=on_event, stop=stop)
    session.close(summary)
    overt.checkpoint()
    raise SystemExit(EXIT_REFUSED if summary.state == "unauthorised" else 0)


@dataclass
class _Running:
    job: CameraJob
    process: mp.process.BaseProcess
    started: float
    restarts: int = 0
    next_start: float = 0.0


@dataclass
class Supervisor:
    """Keeps the wanted cameras running; `jobs` is polled so new and ended deployments are followed."""

    jobs: Callable[[], list[CameraJob]]
    settings_data: dict[str, Any]
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    poll_s: float = 5.0
    health: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._context = mp.get_context("spawn")
        self._stop = self._context.Event()
        self._reports = self._context.Queue()
        self._running: dict[tuple[int, str], _Running] = {}
        self._finished: set[tuple[int, str]] = set()
        self._thread: threading.Thread | None = None
        self._until = threading.Event()

    def _start(self, job: CameraJob, restarts: int = 0) -> None:
        process = self._context.Process(target=_worker, name=f"camera-{job.camera}", daemon=True,
                                        args=(job, self.settings_data, self.pipeline, self._stop, self._reports))
        process.start()
        self._running[job.key] = _Running(job, process, time.monotonic(), restarts)
        self.health[job.key] = {"state": "starting", "restarts": restarts}

    def _drain(self) -> None:
        while True:
            try:
                key, report = self._reports.get_nowait()
            except queue.Empty:
                return
            self.health[key] = {**self.health.get(key, {}), **report}

    def step(self) -> None:
        """One round: collect health, reap and restart workers, start newly authorised cameras."""
        self._drain()
        wanted = {job.key: job for job in self.jobs()}
        for key, running in list(self._running.items()):
            process = running.process
            if process.is_alive():
                continue
            process.join()
            code = process.exitcode
            if code in (0, EXIT_REFUSED) or key not in wanted:
                self._finished.add(key)  # ended, refused, or no longer wanted: not restarted
                self.health.setdefault(key, {})["state"] = self.health.get(key, {}).get("state", "stopped")
                del self._running[key]
                continue
            backoff = min(MAX_BACKOFF_S, 2.0 ** running.restarts)
            if time.monotonic() - running.started < backoff:
                continue
            self.health[key] = {**self.health.get(key, {}), "state": "restarting",
                                "last_error": f"worker exited with code {code}"}
            self._start(running.job, running.restarts + 1)
        for key, job in wanted.items():
            if key not in self._running and key not in self._finished:
                self._start(job)
        self._finished &= set(wanted)  # a camera authorised again later may start again

    def run(self, until: threading.Event) -> None:
        while not until.is_set():
            self.step()
            until.wait(self.poll_s)
        self._shutdown()

    def start(self) -> None:
        """Run in a background thread (the server's lifespan calls this)."""
        self._until = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(self._until,), name="stream-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Ask every worker to stop (they finish the frame, record counts and why they stopped), then wait."""
        if self._thread is not None:
            self._until.set()
            self._thread.join(timeout)
        else:
            self._shutdown(timeout)

    def camera_health(self) -> dict[str, dict[str, Any]]:
        """Health by camera id, for the console (a camera in two deployments shows the latest)."""
        return {camera: {**report, "deployment": deployment} for (deployment, camera), report in self.health.items()}

    def _shutdown(self, timeout: float = 15.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for running in self._running.values():
            running.process.join(max(0.1, deadline - time.monotonic()))
            if running.process.is_alive():
                running.process.terminate()
        self._drain()
        self._running.clear()
