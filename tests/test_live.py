"""Live operation through the service layer: gated sessions, alerts per appearance, nothing else kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from overt.governance.permissions import Refused
from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from overt.storage.models import ActivityCount, Alert, AuditRecord, Evidence
from overt.streams.mjpeg import MjpegServer
from overt.streams.pipeline import PipelineSettings, run_pipeline
from overt.streams.supervisor import CameraJob, Supervisor
from overt.streams.synthetic import PersonSpec, make_scene_video
from tests.governance_helpers import actor, approved, make_overt

FACES = Path(__file__).parent / "data" / "faces"
ROAD = Path(__file__).parent / "data" / "backgrounds" / "road-1072821_640.jpg"
OP = actor("op")
FAST = PipelineSettings(authorise_every_s=0.5, counts_every_s=1.0)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """p042 crosses twice (two appearances), p001 (never enrolled) crosses once, overlapping."""
    path = tmp_path_factory.mktemp("video") / "scene.mp4"
    make_scene_video(path, [
        PersonSpec(FACES / "042_smiling.jpg", "p042", 0.3, 3.3),
        PersonSpec(FACES / "001_smiling.jpg", "p001", 1.0, 4.5, (1.1, 0.4), (-0.1, 0.4)),
        PersonSpec(FACES / "042_smiling.jpg", "p042", 5.5, 8.5, (1.1, 0.6), (-0.1, 0.6)),
    ], ROAD, seconds=9.5)
    return path


@pytest.fixture
def live(tmp_path: Path):
    overt = make_overt(tmp_path / "home")
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", "video.mp4", "Station", 51.5, -0.12))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live")
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p042", (FACES / "042_neutral.jpg",),
                                                                 "missing-person"))
    return overt, deployment


def count(overt, model) -> int:
    with overt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_one_alert_per_appearance_and_nothing_else_kept(live, scene: Path, tmp_path: Path) -> None:
    overt, deployment = live
    files_before = {p for p in (tmp_path / "home").rglob("*") if p.is_file()}
    session = overt.live.open(OP, deployment, "cam-1")
    summary = run_pipeline(str(scene), session, FAST)
    session.close(summary)
    assert summary.alerts == 2 and summary.tracks == 3
    with overt.db.session() as db:
        alerts = db.scalars(select(Alert)).all()
        assert {a.subject_reference for a in alerts} == {"p042"} and len({a.track for a in alerts}) == 2
        assert all(a.status == "pending" and a.camera_id == "cam-1" for a in alerts)
        assert db.scalar(select(func.count(Evidence.id))) == 4  # a crop and a thumbnail per alert, encrypted
        assert all(e.data[:4] == b"OVT1" for e in db.scalars(select(Evidence)))
        counts = db.scalars(select(ActivityCount)).all()
        assert sum(c.faces_seen for c in counts) == summary.faces_seen > 0
        assert sum(c.tracks for c in counts) == 3
        actions = [r.action for r in db.scalars(select(AuditRecord).order_by(AuditRecord.seq))]
    assert actions.count("alert.raise") == 2 and "stream.start" in actions and actions[-1] == "stream.stop"
    new_files = {p for p in (tmp_path / "home").rglob("*") if p.is_file()} - files_before
    assert {p.name for p in new_files} <= {"overt.db-wal", "overt.db-shm", "checkpoints.jsonl"}  # no image files


def test_start_is_refused_outside_a_live_deployment(live) -> None:
    overt, deployment = live
    with pytest.raises(Refused, match="camera"):
        overt.live.open(OP, deployment, "cam-9")
    retrospective = approved(overt, name="retro")
    with pytest.raises(Refused, match="mode"):
        overt.live.open(OP, retrospective, "cam-1")
    with pytest.raises(Refused, match="role"):
        overt.live.open(actor("rev1"), deployment, "cam-1")


def test_revocation_stops_the_camera_within_seconds(live, scene: Path) -> None:
    overt, deployment = live
    server = MjpegServer(str(scene), fps=10, loop=True).start()
    try:
        session = overt.live.open(OP, deployment, "cam-1")
        result = {}
        worker = threading.Thread(target=lambda: result.update(summary=run_pipeline(server.url, session, FAST)))
        worker.start()
        time.sleep(2.0)
        assert worker.is_alive()
        revoked_at = time.monotonic()
        overt.deployments.revoke(actor("dpo"), deployment, "unlawful scope")
        worker.join(timeout=10)
        assert not worker.is_alive() and time.monotonic() - revoked_at < 5
    finally:
        server.stop()
    summary = result["summary"]
    assert summary.state == "unauthorised" and summary.frames > 5
    session.close(summary)
    with overt.db.session() as db:
        stop = db.scalars(select(AuditRecord).where(AuditRecord.action == "stream.stop")).one()
    assert "revoked" in stop.details


@pytest.mark.slow
def test_supervisor_runs_cameras_in_processes_and_reports_health(live, scene: Path) -> None:
    overt, deployment = live
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", str(scene), "Station"), replace=True)
    assert overt.live.cameras_to_run() == []  # a re-pointed camera suspends the deployment (#13) ...
    overt.deployments.decide(actor("judge"), deployment, "approve", "the new source reviewed")  # ... until approved
    jobs = [CameraJob(**job) for job in overt.live.cameras_to_run()]
    assert [j.camera for j in jobs] == ["cam-1"]
    supervisor = Supervisor(lambda: jobs, overt.settings.model_dump(), FAST, poll_s=0.5)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and supervisor.health.get((deployment, "cam-1"), {}).get("state") != "ended":
            supervisor.step()
            time.sleep(0.5)
    finally:
        supervisor.stop()
    health = supervisor.health[(deployment, "cam-1")]
    assert health["state"] == "ended" and health["alerts"] == 2
    assert count(overt, Alert) == 2
