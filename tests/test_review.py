"""Review at live rates: one alert per person and place per window, sightings that join it, idempotent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from overt.engine import FaceEngine
from overt.governance.permissions import Refused
from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from overt.storage.models import Alert, AuditRecord, Sighting
from tests.governance_helpers import actor, approved, make_overt

FACES = Path(__file__).parent / "data" / "faces"
OP = actor("op")
CROP = np.full((60, 50, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def probe():
    """The template of a second photo of enrolled p042, as a live camera would compute it."""
    analysed, _ = FaceEngine().template(FACES / "042_smiling.jpg")
    return analysed.embedding


@pytest.fixture
def site(tmp_path: Path, database_url: str):
    """A live deployment with two cameras of one site and a third on its own; p042 enrolled."""
    overt = make_overt(tmp_path / "home", database_url)
    for camera in ("cam-1", "cam-2", "cam-3"):
        overt.cameras.add(actor("admin"), CameraInfo(camera, "video.mp4", camera))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live", cameras=["cam-1", "cam-2", "cam-3"],
                          review={"alert_window_minutes": 10, "sites": {"station": ["cam-1", "cam-2"]}})
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p042", (FACES / "042_neutral.jpg",),
                                                                 "missing-person"))
    return overt, deployment


def sight(overt, deployment: int, camera: str, probe, track: int):
    session = overt.live.open(OP, deployment, camera)
    (candidate,) = session.search(probe)
    return session.raise_alert(candidate, track, 10, 1.0, CROP, CROP)


def count(overt, model) -> int:
    with overt.db.session() as db:
        return db.scalar(select(func.count()).select_from(model))


def test_sightings_join_the_open_alert_until_it_is_decided(site, probe) -> None:
    overt, deployment = site
    first = sight(overt, deployment, "cam-1", probe, track=1)
    assert not first.joined
    again = sight(overt, deployment, "cam-1", probe, track=1)  # a restarted worker raising it again
    assert again.joined and again.sighting_id == first.sighting_id and count(overt, Sighting) == 1
    second = sight(overt, deployment, "cam-2", probe, track=7)  # the same site: joins
    assert second.joined and second.alert_id == first.alert_id
    elsewhere = sight(overt, deployment, "cam-3", probe, track=1)  # another place: its own alert
    assert not elsewhere.joined and elsewhere.alert_id != first.alert_id
    shown = overt.alerts.show(actor("rev1"), int(first.alert_id))
    assert shown["sightings"] == 2 and len(shown["best_sightings"]) == 2
    for reviewer in ("rev1", "rev2"):
        overt.alerts.review(actor(reviewer), int(first.alert_id), "reject", "not the same person")
    later = sight(overt, deployment, "cam-1", probe, track=2)  # the decision closed the window
    assert not later.joined and later.alert_id not in (first.alert_id, elsewhere.alert_id)
    with overt.db.session() as db:
        actions = list(db.scalars(select(AuditRecord.action)))
    assert actions.count("alert.raise") == 3 and actions.count("alert.sighting") == 1


def test_a_closed_window_opens_a_new_alert(site, probe) -> None:
    overt, deployment = site
    first = sight(overt, deployment, "cam-1", probe, track=1)
    with overt.db.session() as db:  # ten minutes later
        alert = db.get(Alert, int(first.alert_id))
        db.execute(update(Alert).where(Alert.id == alert.id).values(window_ends_at=alert.created_at))
    later = sight(overt, deployment, "cam-1", probe, track=2)
    assert not later.joined and later.alert_id != first.alert_id
    assert overt.alerts.show(actor("rev1"), int(first.alert_id))["status"] == "pending"  # still to review


def test_the_database_refuses_a_second_open_alert_for_one_person_and_place(site, probe) -> None:
    """The insider (or a racing worker) inserting a duplicate open alert straight into the database."""
    overt, deployment = site
    first = sight(overt, deployment, "cam-1", probe, track=1)
    with pytest.raises(IntegrityError), overt.db.session() as db:
        alert = db.get(Alert, int(first.alert_id))
        db.add(Alert(deployment_id=deployment, camera_id="cam-1", subject_id=alert.subject_id,
                     subject_reference="p042", watchlist="missing", score=0.9, threshold=0.5,
                     expires_at=alert.expires_at, open_key=alert.open_key))
        db.flush()


def test_a_face_already_enrolled_anywhere_is_refused_unless_linked_on_purpose(site) -> None:
    overt, deployment = site
    overt.gallery.create_watchlist(actor("admin"), "other", categories=["missing-person"])
    again = EnrolRequest("case-22", (FACES / "042_smiling.jpg",), "missing-person")
    with pytest.raises(Refused, match="'p042'") as refused:  # on another watchlist, under another reference
        overt.gallery.enroll(OP, deployment, "missing", again)
    assert refused.value.rule == "duplicate-subject"
    with pytest.raises(Refused) as wrong:  # a link to someone else is no way around it
        overt.gallery.enroll(OP, deployment, "missing", EnrolRequest(
            "case-22", (FACES / "001_neutral.jpg",), "missing-person", same_as="p042"))
    assert wrong.value.rule == "same-as"
    linked = overt.gallery.enroll(OP, deployment, "missing", EnrolRequest(
        "case-22", (FACES / "042_smiling.jpg",), "missing-person", same_as="missing/p042"))
    assert linked["same_as"] == "p042"
    retro = approved(overt, name="Retrospective")
    found = overt.gallery.identify(OP, retro, FACES / "042_smiling.jpg", ["missing"], case="C-1")
    assert len(found["candidates"]) == 1 and len(found["alerts"]) == 1  # one person: one candidate, one alert
    with overt.db.session() as db:
        records = [(r.action, r.details) for r in db.scalars(select(AuditRecord))]
    assert any(action == "gate.refused" and "duplicate-subject" in details for action, details in records)
    assert [action for action, _ in records].count("subject.link") == 1


def test_the_queue_is_oldest_first_and_blind_and_the_workload_comes_from_the_log(site, probe) -> None:
    overt, deployment = site
    first = sight(overt, deployment, "cam-1", probe, track=1)
    second = sight(overt, deployment, "cam-3", probe, track=1)
    page = overt.review_queue.queue(actor("rev1"))
    assert page["length"] == 2 and page["oldest_waiting_s"] >= 0 and page["next"] == int(first.alert_id)
    (item,) = page["items"]
    assert item["subject"] is None and item["identity"] == "waiting for review"  # blind before deciding
    assert "false-match rate" in item["notice"]["text"] and item["notice"]["watchlist_size"] == 1
    following = overt.review_queue.queue(actor("rev1"), after=page["next"])
    assert [i["id"] for i in following["items"]] == [int(second.alert_id)]
    decided = overt.alerts.review(actor("rev1"), int(first.alert_id), "confirm", "same person")
    assert decided["subject"] == "p042"  # shown after their own decision
    assert overt.review_queue.queue(actor("rev1"))["length"] == 1 and overt.review_queue.queue(
        actor("rev2"))["length"] == 2  # the other reviewer's queue is their own
    overt.alerts.review(actor("rev2"), int(first.alert_id), "inconclusive", "poor image")
    with pytest.raises(Refused, match="role"):
        overt.review_queue.workload(actor("rev1"))  # reviewers do not grade themselves
    figures = overt.review_queue.workload(actor("dpo"), deployment_id=deployment)
    assert figures["alerts"] == 2 and figures["decisions"] == 2 and figures["pending"] == 1
    assert figures["disagreement_share"] == 1.0 and figures["inconclusive_share"] == 0.5
    assert set(figures["per_reviewer"]) == {"rev1", "rev2"} and figures["time_to_decision_s"]["n"] == 2
    assert figures["queue"][-1][1] == 1


def test_a_queue_past_the_spec_limit_pauses_the_cameras_and_says_why(tmp_path: Path, probe) -> None:
    overt = make_overt(tmp_path / "home")
    for camera in ("cam-1", "cam-2"):
        overt.cameras.add(actor("admin"), CameraInfo(camera, "video.mp4", camera))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live", cameras=["cam-1", "cam-2"], review={"queue_limit": 1})
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p042", (FACES / "042_neutral.jpg",),
                                                                 "missing-person"))
    sight(overt, deployment, "cam-1", probe, track=1)
    assert overt.live.cameras_to_run() != []
    sight(overt, deployment, "cam-2", probe, track=1)  # two waiting: past the limit of one
    assert overt.live.cameras_to_run() == []
    (pause,) = overt.pauses.list(OP, deployment)
    assert "past the spec's limit of 1" in pause["reason"] and pause["camera"] is None
    with pytest.raises(Refused, match="paused"):
        overt.live.open(OP, deployment, "cam-1")
