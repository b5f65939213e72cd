"""Live operation through the service layer: gated sessions, alerts per appearance, nothing else kept."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from overt.governance.permissions import Refused
from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from overt.storage.models import ActivityCount, Alert, AuditRecord, Evidence, Sighting
from overt.streams.mjpeg import MjpegServer
from overt.streams.pipeline import HealthReport, PipelineSettings, run_pipeline
from overt.streams.supervisor import CameraJob, Supervisor
from overt.streams.synthetic import PersonSpec, make_scene_video
from tests.governance_helpers import actor, approved, make_overt
from tests.test_cli import remember, run

FACES = Path(__file__).parent / "data" / "faces"
ROAD = Path(__file__).parent / "data" / "backgrounds" / "road-1072821_640.jpg"
OP = actor("op")
FAST = PipelineSettings(authorise_every_s=0.5, counts_every_s=1.0)


def scene_video(path: Path, again_at: float = 5.5, seconds: float = 9.5) -> Path:
    """p042 crosses twice (two appearances, the second from `again_at`), p001 (never enrolled) crosses
    once, overlapping the first."""
    make_scene_video(path, [
        PersonSpec(FACES / "042_smiling.jpg", "p042", 0.3, 3.3),
        PersonSpec(FACES / "001_smiling.jpg", "p001", 1.0, 4.5, (1.1, 0.4), (-0.1, 0.4)),
        PersonSpec(FACES / "042_smiling.jpg", "p042", again_at, again_at + 3.0, (1.1, 0.6), (-0.1, 0.6)),
    ], ROAD, seconds=seconds)
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scene_video(tmp_path_factory.mktemp("video") / "scene.mp4")


@pytest.fixture
def live(tmp_path: Path, scene: Path):
    overt = make_overt(tmp_path / "home")
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", str(scene), "Station", 51.5, -0.12))  # its approved source
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live")
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p042", (FACES / "042_neutral.jpg",),
                                                                 "missing-person"))
    return overt, deployment


def count(overt, model) -> int:
    with overt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_one_alert_per_person_and_place_with_a_sighting_per_appearance(live, scene: Path, tmp_path: Path) -> None:
    overt, deployment = live
    files_before = {p for p in (tmp_path / "home").rglob("*") if p.is_file()}
    session = overt.live.open(OP, deployment, "cam-1")
    events: list = []
    summary = run_pipeline(str(scene), session, FAST, on_event=events.append)
    session.close(summary)
    assert summary.alerts == 1 and summary.tracks == 3  # p042 twice: one alert, its second crossing a sighting
    assert [type(e).__name__ for e in events if type(e).__name__ in ("AlertRaised", "SightingAdded")] == [
        "AlertRaised", "SightingAdded"]
    with overt.db.session() as db:
        alerts = db.scalars(select(Alert)).all()
        assert [a.subject_reference for a in alerts] == ["p042"] and alerts[0].open_key is not None
        assert all(a.status == "pending" and a.camera_id == "cam-1" for a in alerts)
        sightings = db.scalars(select(Sighting)).all()
        assert len(sightings) == 2 and {s.alert_id for s in sightings} == {alerts[0].id}
        assert len({s.track for s in sightings}) == 2 and all(s.crop[:4] == b"OVT1" for s in sightings)
        assert db.scalar(select(func.count(Evidence.id))) == 2  # the alert's crop and thumbnail, encrypted
        assert all(e.data[:4] == b"OVT1" for e in db.scalars(select(Evidence)))
        counts = db.scalars(select(ActivityCount)).all()
        assert sum(c.faces_seen for c in counts) == summary.faces_seen > 0
        assert sum(c.tracks for c in counts) == 3
        actions = [r.action for r in db.scalars(select(AuditRecord).order_by(AuditRecord.seq))]
    assert actions.count("alert.raise") == 1 and actions.count("alert.sighting") == 1
    assert "stream.start" in actions and actions[-1] == "stream.stop"
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


def stopped_by(overt, deployment: int, scene: Path, stop) -> tuple:
    """Run cam-1 live from an MJPEG camera until frames flow, call `stop`; (summary, seconds it took)."""
    server = MjpegServer(str(scene), fps=10, loop=True).start()
    try:
        session = overt.live.open(OP, deployment, "cam-1")
        result = {}
        running = threading.Event()  # set once the camera has processed more than 5 frames, however slowly

        def on_event(event: object) -> None:
            if isinstance(event, HealthReport) and event.health.frames > 5:
                running.set()

        settings = replace(FAST, health_every_s=0.2)
        worker = threading.Thread(
            target=lambda: result.update(summary=run_pipeline(server.url, session, settings, on_event=on_event)))
        worker.start()
        assert running.wait(timeout=120), "the camera never processed more than 5 frames"
        assert worker.is_alive()
        stopped_at = time.monotonic()
        stop()
        worker.join(timeout=60)
        assert not worker.is_alive()
        took = time.monotonic() - stopped_at
    finally:
        server.stop()
    session.close(result["summary"])
    return result["summary"], took


def test_revocation_stops_the_camera_within_seconds(live, scene: Path) -> None:
    overt, deployment = live
    summary, took = stopped_by(overt, deployment, scene,
                               lambda: overt.deployments.revoke(actor("dpo"), deployment, "unlawful scope"))
    assert took < 5 and summary.state == "unauthorised" and summary.frames > 0
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
    assert health["state"] == "ended" and health["alerts"] == 1  # p042's second crossing is a sighting
    assert count(overt, Alert) == 1 and count(overt, Sighting) == 2


def test_a_pause_stops_the_camera_within_seconds_and_resuming_needs_an_operator(live, scene: Path) -> None:
    overt, deployment = live
    summary, took = stopped_by(overt, deployment, scene, lambda: overt.pauses.pause(  # a reviewer on duty
        actor("rev1"), deployment, "wrong person stopped twice", camera="cam-1"))
    assert took < 5 and summary.state == "unauthorised" and summary.frames > 0
    assert overt.live.cameras_to_run() == []  # the supervisor does not restart it
    with pytest.raises(Refused, match="paused"):
        overt.live.open(OP, deployment, "cam-1")
    with pytest.raises(Refused, match="role"):
        overt.pauses.resume(actor("rev1"), deployment)  # resuming is the operator's
    (lifted,) = overt.pauses.resume(OP, deployment, "cam-1")
    assert lifted["resumed_by"] == "op"
    (record,) = overt.deployments.public_records(deployment)
    assert record["pauses"] == 1 and record["pause_log"][0]["reason"] == "wrong person stopped twice"
    assert "by" not in record["pause_log"][0]  # when, what and why are public; who is not
    overt.live.open(OP, deployment, "cam-1")  # running again


def test_resuming_needs_an_approval_still_in_force(live) -> None:
    overt, deployment = live
    overt.pauses.pause(OP, deployment, "incident")  # the whole deployment
    with pytest.raises(Refused, match="paused"):
        overt.live.open(OP, deployment, "cam-1")
    overt.deployments.revoke(actor("dpo"), deployment, "unlawful scope")
    with pytest.raises(Refused, match="not-approved|revoked"):
        overt.pauses.resume(OP, deployment)


def test_watch_json_prints_one_line_per_alert_and_per_joined_sighting(live, scene: Path, tmp_path: Path) -> None:
    overt, deployment = live
    remember(tmp_path / "home", overt, "op")
    result = run(tmp_path / "home", "watch", str(scene), "--deployment", str(deployment), "--camera", "cam-1",
                 "--json", user="op")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    alerts = [line for line in lines if "alert" in line]
    sightings = [line for line in lines if "sighting" in line]
    assert [a["subject"] for a in alerts] == ["p042"]  # the contract scripts rely on
    assert [s["alert_id"] for s in sightings] == [alerts[0]["alert"]] and "alert" not in sightings[0]
    assert lines[-1]["alerts"] == 1 and lines[-1]["state"] == "ended"
