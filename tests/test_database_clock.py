"""One clock for windows: a worker whose own clock runs 90 minutes ahead still groups sightings into the
alert window the database's clock says is open, and stamps them with the database's time (PostgreSQL,
the cluster's system of record; the worker's clock is the process's `now`, injected skewed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from overt.gallery.search import Candidate
from overt.governance.gate import Scope
from overt.services import core
from overt.services.cameras import CameraInfo
from overt.services.core import operate
from overt.services.gallery import EnrolRequest
from overt.storage.models import Alert, Sighting, Subject
from tests.governance_helpers import actor, approved, make_overt
from tests.test_api import FACES

OP = actor("op")
SKEW = timedelta(minutes=90)  # past the 60-minute window, inside the approval


def sight(overt, deployment: int, subject: int, track: int) -> int:
    """What a camera worker does for a match: a gated `watch` operation joining or opening an alert."""
    with operate(overt, OP, "watch", deployment_id=deployment, scope=Scope("watch", camera="cam-1",
                                                                            watchlists=("missing",))) as op:
        candidate = Candidate(subject_id=subject, subject="p042", watchlist="missing", score=0.99, raw_score=0.99,
                              template_id=0)
        crop = (FACES / "042_smiling.jpg").read_bytes()
        return overt.alerts.sight(op, candidate, 0.9, camera="cam-1", track=track, frame=0,
                                  evidence={"crop": crop}).alert_id


@pytest.mark.postgres
def test_a_worker_with_a_skewed_clock_groups_by_the_databases_clock(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    overt = make_overt(tmp_path / "home", postgres_url)
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", "rtsp://cam-1.example/", "cam-1"))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live", cameras=["cam-1"], review={"alert_window_minutes": 60})
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p042", (FACES / "042_neutral.jpg",),
                                                                 "missing-person"))
    with overt.db.session() as session:
        subject = session.scalars(select(Subject)).one().id

    first = sight(overt, deployment, subject, track=1)  # a worker with a true clock opens the alert
    monkeypatch.setattr(core, "now", lambda: datetime.now(UTC) + SKEW)  # this worker's clock: 90 min ahead
    second = sight(overt, deployment, subject, track=2)
    assert second == first  # the window (60 min) is still open by the database's clock: one alert, joined

    with overt.db.session() as session:
        database_now = session.execute(text("SELECT now()")).scalar_one()
        alert = session.get(Alert, first)
        stamps = [s.at for s in session.scalars(select(Sighting).order_by(Sighting.id))]
    assert len(stamps) == 2 and all(abs(database_now - at) < timedelta(minutes=5) for at in stamps)
    assert abs(alert.window_ends_at - (stamps[0] + timedelta(minutes=60))) < timedelta(seconds=1)
    overt.db.dispose()
