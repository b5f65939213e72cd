"""The jobs a cluster runs once, not once per API process: camera supervision, retention, checkpoints.

Every `overt serve --cluster` process runs a `LeasedJobs`; each round it tries to take or renew the
lease in PostgreSQL, and only the holder does the work. If the holder's machine dies, its lease expires
(by the database's clock) and another process takes over; the camera actors, being detached and named,
keep running through the handover and the new supervisor adopts them.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..services.background import RETENTION_ACTOR
from ..storage.clock import database_now
from . import lease, require_ray, view
from .cameras import ClusterSupervisor

log = logging.getLogger("overt.cluster")
LEASE = "cluster-jobs"


@dataclass
class Every:
    """A task and its period; `due` by the monotonic clock of the lease holder."""

    every_s: float
    run: Callable[[], Any]
    last: float = float("-inf")

    def due(self, now: float) -> bool:
        return now - self.last >= self.every_s


@dataclass
class LeasedJobs:
    """Take the cluster's lease and, while holding it, supervise cameras and run the periodic jobs."""

    overt: Any
    supervisor: ClusterSupervisor
    ttl_s: float = 15.0
    poll_s: float = 2.0
    retention_every_s: float = 3600.0
    checkpoint_every_s: float = 60.0
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    leading: bool = False

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tasks = [Every(self.poll_s, self.supervisor.step),
                      Every(self.retention_every_s, self._retention),
                      Every(self.checkpoint_every_s, self.overt.checkpoint)]
        self.overt.cameras.health_source = self.supervisor.camera_health
        self.overt.cluster_view.source = functools.partial(view.snapshot, require_ray())

    def _retention(self) -> dict[str, int]:
        """Retention by the database's clock, the one every machine shares."""
        with self.overt.db.session() as session:
            at = database_now(session)
        return self.overt.system.retention(RETENTION_ACTOR, at=at)

    def step(self) -> None:
        """One round: renew (or take) the lease; if held, run what is due."""
        self.leading = lease.acquire(self.overt.db, LEASE, self.holder, self.ttl_s)
        if not self.leading:
            return
        now = time.monotonic()
        for task in self.tasks:
            if task.due(now):
                task.last = now
                try:
                    task.run()
                except Exception:  # retried next round, and logged; never ends the loop
                    log.exception("cluster job %s failed", getattr(task.run, "__name__", task.run))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the database was unreachable: try again, and let the lease lapse meanwhile
                log.exception("cluster lease round failed")
                self.leading = False
            self._stop.wait(self.poll_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cluster-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Hand the lease back at once; the cameras keep running for the next holder to adopt."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.leading:
            self.overt.checkpoint()
            lease.release(self.overt.db, LEASE, self.holder)
