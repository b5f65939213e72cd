"""One test per governance rule, through the service layer that every caller uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from overt.gallery.store import GalleryError
from overt.governance import gate
from overt.governance.permissions import Refused
from overt.services.gallery import EnrolRequest
from overt.storage.models import Alert, AuditRecord, Deployment, Evidence, Subject, Template
from tests.governance_helpers import actor, approved, installation, spec

FACES = Path(__file__).parent / "data" / "faces"
OP = actor("op")


@pytest.fixture
def overt(tmp_path: Path, database_url: str):
    with installation(tmp_path / "home", database_url) as instance:
        yield instance


def enroll(overt, deployment_id: int, ref: str, image: str, category: str = "missing-person") -> dict:
    return overt.gallery.enroll(OP, deployment_id, "missing", EnrolRequest(ref, (FACES / image,), category))


def refusals(overt, rule: str) -> int:
    with overt.db.session() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == "gate.refused")).all()
    return sum(1 for r in rows if f'"rule":"{rule}"' in r.details.replace(" ", ""))


def test_full_path_apply_approve_enroll_identify_review(overt) -> None:
    deployment_id = approved(overt)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")
    result = overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C-1")
    assert [c["subject"] for c in result["candidates"]] == ["person-042"]
    (alert_id,) = result["alerts"]
    first = overt.alerts.review(actor("rev1"), alert_id, "confirm", "same person")
    assert first["status"] == "pending" and not first["actionable"]
    final = overt.alerts.review(actor("rev2"), alert_id, "confirm", "agree")
    assert final["status"] == "confirmed" and final["actionable"]
    overt.alerts.record_outcome(OP, alert_id, "person found safe")


def test_unmatched_probe_leaves_no_trace(overt) -> None:
    deployment_id = approved(overt)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")
    result = overt.gallery.identify(OP, deployment_id, FACES / "001_neutral.jpg", ["missing"], case="C-1")
    assert result["candidates"] == [] and result["alerts"] == []
    with overt.db.session() as session:
        assert session.scalar(select(func.count(Alert.id))) == 0
        assert session.scalar(select(func.count(Evidence.id))) == 0
        assert session.scalar(select(func.count(Template.id))) == 1  # only the enrolled subject's


def test_nobody_approves_their_own_application(overt) -> None:
    with pytest.raises(Refused, match="own-application"):
        overt.deployments.apply(OP, spec(authority="op"))
    deployment_id = overt.deployments.apply(OP, spec())
    with pytest.raises(Refused, match="role"):
        overt.deployments.decide(OP, deployment_id, "approve", "me")  # an operator cannot decide at all
    with pytest.raises(Refused, match="wrong-authority"):
        overt.deployments.decide(actor("judge2"), deployment_id, "approve", "not asked")
    assert refusals(overt, "wrong-authority") == 1


def test_decision_needs_a_reason(overt) -> None:
    deployment_id = overt.deployments.apply(OP, spec())
    with pytest.raises(Refused, match="reason"):
        overt.deployments.decide(actor("judge"), deployment_id, "approve", "  ")


def test_nothing_runs_before_approval(overt) -> None:
    deployment_id = overt.deployments.apply(OP, spec())
    with pytest.raises(Refused, match="not-approved"):
        enroll(overt, deployment_id, "p", "042_neutral.jpg")
    assert refusals(overt, "not-approved") == 1


def test_outside_the_time_window(overt) -> None:
    now = datetime.now(UTC)
    later = [{"start": (now + timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=2)).isoformat()}]
    deployment_id = approved(overt, windows=later)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")  # preparing the watchlist is allowed
    with pytest.raises(Refused, match="window"):
        overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C-1")


def test_camera_and_mode_must_be_in_scope(overt) -> None:
    deployment_id = approved(overt, mode="live")
    with overt.db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        now = datetime.now(UTC)
        gate.check(deployment, gate.Scope("watch", camera="cam-1", watchlists=("missing",)), now, 0.9)
        with pytest.raises(Refused, match="camera"):
            gate.check(deployment, gate.Scope("watch", camera="cam-9"), now, 0.9)
    with pytest.raises(Refused, match="mode"):
        overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C-1")


def test_threshold_cannot_be_lowered(overt) -> None:
    deployment_id = approved(overt)
    calibrated = overt.calibrated_threshold()
    with pytest.raises(Refused, match="threshold"):
        overt.gallery.identify(
            OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C-1", threshold=calibrated - 0.05
        )
    # an application asking for a lower threshold is refused when it is filed (#13)
    with pytest.raises(Refused, match="threshold"):
        approved(overt, threshold=calibrated - 0.2, name="lowered")


def test_watchlist_size_and_category_and_scope(overt) -> None:
    deployment_id = approved(overt, max_watchlist_size=1)
    enroll(overt, deployment_id, "a", "042_neutral.jpg")
    with pytest.raises(Refused, match="watchlist-size"):
        enroll(overt, deployment_id, "b", "001_neutral.jpg")
    other = approved(overt, name="other", categories=["missing-person"])
    with pytest.raises(Refused, match="category"):
        enroll(overt, other, "c", "004_neutral.jpg", category="suspect")
    overt.gallery.create_watchlist(actor("admin"), "elsewhere")
    with pytest.raises(Refused, match="watchlist"):
        overt.gallery.identify(OP, other, FACES / "042_smiling.jpg", ["elsewhere"], case="C-1")


def test_retrospective_search_needs_a_case(overt) -> None:
    deployment_id = approved(overt)
    with pytest.raises(Refused, match="case"):
        overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"])


def test_enrolment_refuses_bad_images_and_duplicates(overt, tmp_path: Path) -> None:
    deployment_id = approved(overt)
    background = Path(__file__).parent / "data" / "backgrounds" / "fox-715588_640.jpg"
    with pytest.raises(Exception, match="no face"):
        overt.gallery.enroll(OP, deployment_id, "missing", EnrolRequest("x", (background,), "missing-person"))
    corrupt = tmp_path / "bad.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(GalleryError):
        overt.gallery.enroll(OP, deployment_id, "missing", EnrolRequest("y", (corrupt,), "missing-person"))
    enroll(overt, deployment_id, "dup", "042_neutral.jpg")
    with pytest.raises(GalleryError, match="already"):
        enroll(overt, deployment_id, "dup", "042_smiling.jpg")
    with overt.db.session() as session:
        assert session.scalar(select(func.count(Subject.id))) == 1
        failures = session.scalar(select(func.count(AuditRecord.seq)).where(AuditRecord.action == "operation.failed"))
    assert failures == 3


def test_review_rules(overt) -> None:
    deployment_id = approved(overt)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")

    def new_alert() -> int:
        return overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C")["alerts"][0]

    alert_id = new_alert()
    with pytest.raises(Refused, match="role"):
        overt.alerts.review(OP, alert_id, "confirm")
    overt.alerts.review(actor("rev1"), alert_id, "reject", "different ears")
    with pytest.raises(Refused, match="second-review"):
        overt.alerts.review(actor("rev1"), alert_id, "confirm")
    seen_by_rev2 = next(a for a in overt.alerts.list(actor("rev2")) if a["id"] == alert_id)
    assert seen_by_rev2["reviews"] == 1 and seen_by_rev2["decisions"] is None  # blind review
    assert overt.alerts.review(actor("rev2"), alert_id, "confirm")["status"] == "inconclusive"
    with pytest.raises(Refused, match="not-confirmed"):
        overt.alerts.record_outcome(OP, alert_id, "arrested")
    with pytest.raises(Refused, match="alert-closed"):
        overt.alerts.review(actor("rev3"), alert_id, "confirm")
    second = new_alert()
    overt.alerts.review(actor("rev1"), second, "reject")
    assert overt.alerts.review(actor("rev2"), second, "reject")["status"] == "rejected"


def test_revoke_stops_at_once_and_amend_needs_new_approval(overt) -> None:
    deployment_id = approved(overt)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")
    overt.deployments.amend(OP, deployment_id, spec(max_watchlist_size=2))
    with pytest.raises(Refused, match="not-approved"):
        overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C")
    overt.deployments.decide(actor("judge"), deployment_id, "approve", "amended scope acceptable")
    overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C")
    overt.deployments.revoke(actor("dpo"), deployment_id, "complaint upheld")
    with pytest.raises(Refused, match="not-approved"):
        overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C")


def test_approval_expires() -> None:
    deployment = Deployment(id=1, status="approved", spec={}, approval_expires_at=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(Refused, match="approval-expired"):
        gate.in_force(deployment, datetime(2026, 1, 2, tzinfo=UTC))


def test_rejected_urgent_start_leaves_no_data(overt) -> None:
    prep = approved(overt, name="preparation")
    enroll(overt, prep, "person-042", "042_neutral.jpg")
    urgent = overt.deployments.apply(OP, spec(name="urgent"))
    overt.deployments.urgent_start(OP, urgent, "child missing since this morning; court closed")
    alerts = overt.gallery.identify(OP, urgent, FACES / "042_smiling.jpg", ["missing"], case="C")["alerts"]
    assert alerts
    assert overt.deployments.decide(actor("judge"), urgent, "reject", "not necessary") == "rejected"
    with overt.db.session() as session:
        assert session.scalar(select(func.count(Alert.id)).where(Alert.deployment_id == urgent)) == 0
    with pytest.raises(Refused, match="not-approved"):
        overt.gallery.identify(OP, urgent, FACES / "042_smiling.jpg", ["missing"], case="C")


def test_urgent_start_lapses_after_24_hours(overt) -> None:
    prep = approved(overt, name="preparation")
    enroll(overt, prep, "person-042", "042_neutral.jpg")
    urgent = overt.deployments.apply(OP, spec(name="urgent"))
    overt.deployments.urgent_start(OP, urgent, "imminent threat reported by phone")
    overt.gallery.identify(OP, urgent, FACES / "042_smiling.jpg", ["missing"], case="C")
    counts = overt.system.retention(actor("dpo"), at=datetime.now(UTC) + timedelta(hours=25))
    assert counts["lapsed_deployments"] == 1 and counts["alerts"] == 1
    with overt.db.session() as session:
        assert session.get(Deployment, urgent).status == "lapsed"
        assert session.scalar(select(func.count(Alert.id))) == 0


def test_retention_deletes_expired_alerts(overt) -> None:
    deployment_id = approved(overt)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")
    overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C")
    assert overt.system.retention(actor("dpo"))["alerts"] == 0
    counts = overt.system.retention(actor("dpo"), at=datetime.now(UTC) + timedelta(days=31))
    assert counts["alerts"] == 1
    with pytest.raises(Refused, match="role"):
        overt.system.retention(OP)


def test_every_operation_is_in_the_verified_audit_log(overt) -> None:
    deployment_id = approved(overt)
    enroll(overt, deployment_id, "person-042", "042_neutral.jpg")
    overt.gallery.identify(OP, deployment_id, FACES / "042_smiling.jpg", ["missing"], case="C")
    with overt.db.session() as session:
        actions = [r.action for r in session.scalars(select(AuditRecord).order_by(AuditRecord.seq))]
    for expected in (
        "init",
        "user.create",
        "watchlist.create",
        "deployment.apply",
        "deployment.approve",
        "subject.enroll",
        "alert.raise",
        "identify",
    ):
        assert expected in actions
    assert overt.system.verify_audit(actor("aud")).ok


def test_returned_urgent_start_lapses_too(overt) -> None:
    prep = approved(overt, name="preparation")
    enroll(overt, prep, "person-042", "042_neutral.jpg")
    urgent = overt.deployments.apply(OP, spec(name="urgent"))
    overt.deployments.urgent_start(OP, urgent, "imminent threat reported by phone")
    overt.gallery.identify(OP, urgent, FACES / "042_smiling.jpg", ["missing"], case="C")
    assert overt.deployments.decide(actor("judge"), urgent, "return", "justify the camera list") == "returned"
    with pytest.raises(Refused, match="not-approved"):
        overt.gallery.identify(OP, urgent, FACES / "042_smiling.jpg", ["missing"], case="C")
    counts = overt.system.retention(actor("dpo"), at=datetime.now(UTC) + timedelta(hours=25))
    assert counts["lapsed_deployments"] == 1 and counts["alerts"] == 1


def test_token_reset_and_disable_stop_access_at_once(overt) -> None:
    old = overt.system.add_user(actor("admin"), "temp", "reviewer")
    overt.system.approve_user(actor("dpo"), "temp")
    assert overt.authenticate(old).name == "temp"
    new = overt.system.reset_token(actor("admin"), "temp")
    with pytest.raises(Refused, match="token"):
        overt.authenticate(old)
    assert overt.authenticate(new).name == "temp"
    with pytest.raises(Refused, match="role"):
        overt.system.disable_user(actor("dpo"), "temp", "not allowed")
    overt.system.disable_user(actor("admin"), "temp", "left the unit")
    with pytest.raises(Refused, match="token"):
        overt.authenticate(new)
    with pytest.raises(Refused, match="unknown-user"):
        overt.actor("temp")
