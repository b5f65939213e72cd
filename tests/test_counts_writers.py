"""Hourly counts from several camera processes at once on SQLite: each `record_counts` queues on the
writers' lock like any other write, so none dies on "database is locked" (a deferred transaction that
read before another process committed cannot write) and no count is lost."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from sqlalchemy import func, select

from overt.services.cameras import CameraInfo
from overt.storage.models import ActivityCount
from overt.streams.pipeline import Counts
from tests.governance_helpers import actor, approved, make_overt

WORKERS = 4
ROUNDS = 40
ONE = Counts(seconds=1.0, frames=3, frames_detected=1, faces_seen=2, tracks=1, embeddings=1, alerts=0, drops=0)


def camera_worker(home: str, deployment: int, camera: str) -> None:
    """A camera worker process, as the supervisor spawns it: its own installation object and session."""
    from overt.config import Settings
    from overt.services import Actor, Overt

    session = Overt(Settings(home=Path(home))).live.open(Actor("op", "operator"), deployment, camera)
    for _ in range(ROUNDS):
        session.record_counts(ONE)


def test_hourly_counts_from_many_processes_all_land(tmp_path: Path) -> None:
    overt = make_overt(tmp_path / "home")
    cameras = [f"cam-{n}" for n in range(WORKERS)]
    for camera in cameras:
        overt.cameras.add(actor("admin"), CameraInfo(camera, f"rtsp://{camera}.example/", camera))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live", cameras=cameras)
    context = mp.get_context("spawn")
    # Two workers per camera row and one row per camera: readers and writers of the same rows interleave.
    workers = [context.Process(target=camera_worker, args=(str(overt.settings.home), deployment, cameras[n % 2]))
               for n in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert [w.exitcode for w in workers] == [0] * WORKERS
    with overt.db.session() as session:
        frames = session.scalar(select(func.sum(ActivityCount.frames)))
    assert frames == WORKERS * ROUNDS * ONE.frames
    overt.db.dispose()
