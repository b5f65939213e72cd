"""The README's main job: `overt serve --demo` shows live alerts from its demo camera within a minute."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from overt.cli.serve_cmds import _demo_camera
from overt.config import Settings
from overt.services import Overt
from overt.services.background import camera_supervisor
from overt.services.demo import seed_demo
from overt.streams.pipeline import PipelineSettings


@pytest.mark.slow
def test_demo_camera_raises_alerts_for_enrolled_people_only(tmp_path: Path) -> None:
    overt = Overt(Settings(home=tmp_path / "demo"))
    camera = _demo_camera(tmp_path)
    camera.start()
    seeded = seed_demo(overt, camera.url)
    supervisor = camera_supervisor(overt, PipelineSettings(authorise_every_s=1.0), poll_s=0.5)
    reviewer = overt.actor("reviewer-1")
    start = time.monotonic()
    try:
        supervisor.start()
        live: list[dict] = []
        while time.monotonic() - start < 60 and len({a["subject"] for a in live}) < 3:
            time.sleep(1.0)
            live = [a for a in overt.alerts.list(reviewer) if a["camera"] == seeded.camera]
    finally:
        supervisor.stop()
        camera.stop()
    assert {a["subject"] for a in live} == {"demo-person-001", "demo-person-004", "demo-person-042"}
    assert time.monotonic() - start < 60
    health = overt.cameras.health(reviewer)[seeded.camera]
    assert health["faces_seen"] > 0 and health["last_error"] in (None, "stop requested")
