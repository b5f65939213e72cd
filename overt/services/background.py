"""Work the server runs beside the API: the cameras of live deployments, and the retention purge."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ..streams.pipeline import PipelineSettings
from ..streams.supervisor import CameraJob, Supervisor
from .core import Actor

if TYPE_CHECKING:
    from . import Overt

log = logging.getLogger("overt.background")
RETENTION_ACTOR = Actor("retention-job", "admin")


class RetentionJob:
    """Purges what has outlived its retention every `every_s` seconds (and once at start)."""

    def __init__(self, overt: Overt, every_s: float = 3600.0) -> None:
        self.overt = overt
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        return self.overt.system.retention(RETENTION_ACTOR)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a failed purge is retried next round, and logged, but never kills the server
                log.exception("retention purge failed")
            self._stop.wait(self.every_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


class CheckpointJob:
    """Signs the audit chain's head every `every_s` seconds when it has grown, and once at shutdown."""

    def __init__(self, overt: Overt, every_s: float = 60.0) -> None:
        self.overt = overt
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.overt.checkpoint()
            except Exception:  # retried next round; verification still works from the last signature
                log.exception("audit checkpoint failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="audit-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.overt.checkpoint()


def camera_supervisor(overt: Overt, pipeline: PipelineSettings | None = None, poll_s: float = 5.0) -> Supervisor:
    """A supervisor that follows every live deployment in force, and feeds the console's camera health."""
    supervisor = Supervisor(lambda: [CameraJob(**job) for job in overt.live.cameras_to_run()],
                            overt.settings.model_dump(), pipeline or PipelineSettings(), poll_s=poll_s)
    overt.cameras.health_source = supervisor.camera_health
    return supervisor
