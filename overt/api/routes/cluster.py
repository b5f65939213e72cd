"""The cluster view: machines, the cameras on each, and their health (one machine when not in cluster mode)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..auth import ActorDep, OvertDep
from .common import needs

router = APIRouter(prefix="/api/cluster", tags=["cluster"])


class Machine(BaseModel):
    id: str = Field(description="Ray's node id (the host name when not in cluster mode).")
    address: str
    alive: bool
    cpus: float
    sites: list[str] = Field(description="The sites whose cameras may run here (`site:NAME` resources).")
    cameras: list[str] = Field(description="Ids of the cameras running here now.")


class ClusterCamera(BaseModel):
    deployment: int | None
    camera: str
    machine: str | None = Field(description="The id of the machine it runs on now.")
    restarts: int = Field(description="Times it was started again (its machine died, or its worker crashed).")
    state: str | None
    fps_in: float | None
    fps_out: float | None
    lag_s: float | None
    frames: int | None
    drops: int | None
    faces_seen: int | None
    alerts: int | None
    last_error: str | None


class ClusterStatus(BaseModel):
    mode: Literal["cluster", "local"]
    note: str = Field(description="Empty in cluster mode; otherwise says plainly that this is one machine.")
    machines: list[Machine]
    cameras: list[ClusterCamera]


@router.get("", openapi_extra=needs("camera.read"))
def cluster_status(actor: ActorDep, overt: OvertDep) -> ClusterStatus:
    """The machines (Ray nodes: id, address, alive, CPUs) and the cameras on each, with fps, lag, restarts
    and the last error; read from Ray by whichever API process answers. Not in cluster mode, it says so
    and shows this server's own supervisor's cameras."""
    return ClusterStatus(**overt.cluster_view.status(actor))
