"""The cluster view: which machines run Overt, which cameras each runs, and how those cameras are doing.

In cluster mode a process connected to Ray sets `source` (overt/cluster/view.py reads Ray's node and
actor tables); otherwise this is one machine, and the view says so plainly and lists the cameras of
this process's own stream supervisor. Reading it is permission-checked like the cameras' health.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .core import Actor, operate

if TYPE_CHECKING:
    from . import Overt

ClusterSource = Callable[[], dict[str, Any]]
LOCAL_NOTE = ("not in cluster mode: one machine, the cameras of this server's own supervisor "
              "(start with `overt serve --cluster ADDRESS` for many machines; docs/cluster.md)")
NO_SUPERVISOR_NOTE = ("not in cluster mode (no --cluster or OVERT_CLUSTER): one machine; this process runs no "
                      "cameras, `overt serve` does (its console's Cluster tab, or GET /api/cluster)")
HEALTH_FIELDS = ("state", "fps_in", "fps_out", "lag_s", "frames", "drops", "faces_seen", "alerts", "last_error")


class ClusterViewService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt
        self.source: ClusterSource | None = None  # set when this process joins a Ray cluster

    def status(self, actor: Actor) -> dict[str, Any]:
        """{"mode": "cluster" | "local", "note", "machines": [...], "cameras": [...]} (see the REST docs)."""
        with operate(self.overt, actor, "camera.read"):
            if self.source is not None:
                return {"note": "", **self.source()}
            return self._local()

    def _local(self) -> dict[str, Any]:
        """This machine, and the cameras its supervisor runs (none when no supervisor runs here)."""
        health_source = self.overt.cameras.health_source
        health = health_source() if health_source is not None else {}
        host = socket.gethostname()
        cameras = [{"deployment": report.get("deployment"), "camera": camera, "machine": host,
                    "restarts": int(report.get("restarts", 0)), **{key: report.get(key) for key in HEALTH_FIELDS}}
                   for camera, report in sorted(health.items())]
        machine = {"id": host, "address": host, "alive": True, "cpus": float(os.cpu_count() or 0), "sites": [],
                   "cameras": [c["camera"] for c in cameras]}
        note = LOCAL_NOTE if health_source is not None else NO_SUPERVISOR_NOTE
        return {"mode": "local", "note": note, "machines": [machine], "cameras": cameras}
