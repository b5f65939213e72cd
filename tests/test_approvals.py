"""Approvals that bind (#13): each way an insider got around an approval, tried again, and refused.

The numbered cases are those of the issue; each goes the way the insider went (the command line, the API,
parallel requests, a second account), on SQLite and PostgreSQL where storage matters.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from overt.api.app import ApiSettings, create_app
from overt.engine.calibration import read_calibration, write_calibration
from overt.engine.pipeline import FaceEngine
from overt.governance.permissions import Refused
from overt.governance.spec import EXAMPLE_DOCUMENTS, SpecError, example_document, parse_spec
from overt.services import Actor, Overt
from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from overt.storage.models import (
    ActivityCount,
    AssessmentDocument,
    AuditRecord,
    Deployment,
    ReferenceImage,
    Subject,
    Template,
)
from tests.governance_helpers import DOCUMENTS, actor, api_body, approved, installation, make_overt, spec
from tests.test_governance import refusals

FACES = Path(__file__).parent / "data" / "faces"
OP = actor("op")
JUDGE = actor("judge")


@pytest.fixture
def overt(tmp_path: Path, database_url: str):
    with installation(tmp_path / "home", database_url) as instance:
        yield instance


def cli(home: Path, *args: str, user: str | None = None, token: str | None = None) -> subprocess.CompletedProcess:
    """`overt [--as USER] ARGS` in a subprocess with OVERT_TOKEN set to `token` (none when None)."""
    env = {**os.environ, "OVERT_HOME": str(home), "COLUMNS": "200"}
    env.pop("OVERT_USER", None)
    env.pop("OVERT_TOKEN", None)
    if token:
        env["OVERT_TOKEN"] = token
    prefix = ["--as", user] if user else []
    result = subprocess.run([sys.executable, "-m", "overt", *prefix, *args], capture_output=True, text=True, env=env,
                            timeout=300)
    assert "Traceback" not in result.stderr
    return result


def enrol(overt: Overt, deployment_id: int, ref: str, image: str, who=OP) -> dict[str, Any]:
    return overt.gallery.enroll(who, deployment_id, "missing", EnrolRequest(ref, (FACES / image,), "missing-person"))


# --- 1. cameras re-pointed, and any file under a camera id --------------------------------------------


@pytest.mark.slow
def test_1_repointed_camera_suspends_and_watch_refuses_another_source(tmp_path: Path) -> None:
    home = tmp_path / "home"
    overt = make_overt(home)
    approved_source = tmp_path / "station.mp4"
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", str(approved_source), "Station", 51.5, -0.12, 90.0))
    deployment = approved(overt, mode="live")
    op_token = overt.system.reset_token(actor("admin"), "op")
    judge_token = overt.system.reset_token(actor("admin"), "judge")
    with overt.db.session() as session:
        before = session.get(Deployment, deployment).snapshot_sha256

    other = cli(home, "watch", str(tmp_path / "elsewhere.mp4"), "--deployment", str(deployment), "--camera", "cam-1",
                user="op", token=op_token)
    assert other.returncode == 5 and "camera-source" in other.stderr

    moved = cli(home, "camera", "add", "cam-1", "--source", "rtsp://10.9.9.9/other", "--lat", "52.2", "--lon", "0.1",
                "--replace", user="op", token=op_token)
    assert moved.returncode == 0, moved.stderr
    shown = json.loads(cli(home, "deployment", "show", str(deployment), "--json", user="judge",
                           token=judge_token).stdout)
    assert shown["status"] == "amended"
    assert "camera cam-1 source: changed since approval" in shown["changes_since_approval"]
    assert any("lat" in c for c in shown["changes_since_approval"])
    suspended = cli(home, "watch", "rtsp://10.9.9.9/other", "--deployment", str(deployment), "--camera", "cam-1",
                    user="op", token=op_token)
    assert suspended.returncode == 5 and "amended" in suspended.stderr

    again = cli(home, "deployment", "approve", str(deployment), "--reason", "new place reviewed", user="judge",
                token=judge_token)
    assert again.returncode == 0, again.stderr
    with overt.db.session() as session:
        row = session.get(Deployment, deployment)
        assert row.status == "approved" and row.snapshot_sha256 != before
        assert row.snapshot["cameras"]["cam-1"]["source"] == "rtsp://10.9.9.9/other"
        events = [json.loads(d) for d in session.scalars(
            select(AuditRecord.details).where(AuditRecord.action == "deployment.suspend"))]
    assert events and events[0]["snapshot_sha256"] == before


def test_1_camera_update_through_the_service_suspends_on_both_databases(overt) -> None:
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", "rtsp://a/1", "Station", 51.5, -0.12))
    deployment = approved(overt, mode="live")
    overt.cameras.add(OP, CameraInfo("cam-1", "rtsp://a/1", "Station", 51.5, -0.12, zone="transport"), replace=True)
    with pytest.raises(Refused, match="amended"):
        overt.live.open(OP, deployment, "cam-1")
    assert overt.deployments.show(JUDGE, deployment)["changes_since_approval"] == [
        "camera cam-1 zone: approved '', now 'transport'"
    ]


# --- 2 and 9. thresholds ------------------------------------------------------------------------------


def test_2_a_new_calibration_never_moves_an_approved_threshold(tmp_path: Path) -> None:
    overt = make_overt(tmp_path / "home")
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt)
    pinned = overt.deployments.show(JUDGE, deployment)["snapshot"]["threshold"]
    assert pinned == pytest.approx(overt.calibrated_threshold())
    # what `overt evaluate ... --calibrate` writes: a calibration at another target, threshold 0.5
    current = overt.lab.engine.calibration()
    write_calibration(overt.settings.calibration_dir / f"{current.model}.json", replace(current, threshold=0.5))
    later = Overt(overt.settings)  # a new process reads the calibration in force
    assert later.calibrated_threshold() == 0.5
    with pytest.raises(Refused, match="amended"):
        later.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C-1")
    shown = later.deployments.show(JUDGE, deployment)
    assert shown["status"] == "amended" and any("calibration" in c for c in shown["changes_since_approval"])
    assert shown["snapshot"]["threshold"] == pinned  # the approved value is untouched
    # adopting the new calibration is the authority's act: a new approval, audited, never below the old spec
    later.deployments.decide(JUDGE, deployment, "approve", "new calibration evidence read")
    result = later.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C-1")
    assert result["threshold"] == 0.5
    assert read_calibration(overt.settings.calibration_dir / f"{current.model}.json").threshold == 0.5


@pytest.mark.slow
def test_9_non_finite_thresholds_are_refused_by_the_gate_and_audited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    overt = make_overt(home)
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt)
    token = overt.system.reset_token(actor("admin"), "op")
    for value in ("nan", "inf", "1e309", "-5"):
        result = cli(home, "identify", str(FACES / "042_smiling.jpg"), "--watchlist", "missing", "--deployment",
                     str(deployment), "--case", "C-1", "--threshold", value, user="op", token=token)
        assert result.returncode == 5 and "threshold" in result.stderr, (value, result.stderr)
    assert refusals(overt, "threshold") == 4


def test_9_spec_thresholds_below_calibration_are_refused_at_apply_and_the_api_takes_real_scores(tmp_path) -> None:
    overt = make_overt(tmp_path / "home")
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    for low in (0.1, -5, 1e6):
        with pytest.raises(Refused, match="threshold"):
            overt.deployments.apply(OP, spec(threshold=low))
    with pytest.raises(SpecError, match="finite"):
        parse_spec(spec(threshold=float("nan")))
    deployment = approved(overt)
    client = TestClient(create_app(overt, ApiSettings()))
    token = overt.system.reset_token(actor("admin"), "op")
    stricter = overt.calibrated_threshold() + 0.5
    response = client.post(
        f"/api/deployments/{deployment}/identify",
        files={"image": ("p.jpg", (FACES / "042_smiling.jpg").read_bytes(), "image/jpeg")},
        data={"watchlist": "missing", "case": "C-1", "threshold": str(stricter)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["threshold"] == pytest.approx(stricter)


# --- 3. two people ------------------------------------------------------------------------------------


def test_3_one_reviewer_needs_a_stated_exception_accepted_explicitly(overt) -> None:
    with pytest.raises(SpecError, match="reviewers_required"):
        overt.deployments.apply(OP, spec(reviewers_required=1))
    exception = "AI Act Art. 14(5): law enforcement, national law 2026/9 s.4 deems two reviewers disproportionate"
    deployment = overt.deployments.apply(OP, spec(reviewers_required=1, single_reviewer_exception=exception))
    with pytest.raises(Refused, match="reviewers"):
        overt.deployments.decide(JUDGE, deployment, "approve", "ok")
    overt.deployments.decide(JUDGE, deployment, "approve", "exception accepted", accept_exception=True,
                             assign=("rev1",))
    (record,) = overt.deployments.public_records(deployment)
    assert record["reviewers_required"] == 1 and record["single_reviewer_exception"] == exception


def test_3_applicant_approver_and_reviewers_are_distinct_persons(overt) -> None:
    deployment = approved(overt)
    enrol(overt, deployment, "p042", "042_neutral.jpg")
    (alert,) = overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")["alerts"]
    with pytest.raises(Refused, match="one-account"):  # one active account per person
        overt.system.add_user(actor("admin"), "op-reviewing", "reviewer", person="op")
    overt.system.disable_user(actor("admin"), "op", "moved to reviewing")
    overt.system.add_user(actor("admin"), "op-reviewing", "reviewer", person="op")
    overt.system.approve_user(actor("dpo"), "op-reviewing")
    overt.deployments.assign(actor("dpo"), deployment, "op-reviewing")
    with pytest.raises(Refused, match="same-person"):  # the applicant reviewing their own case
        overt.alerts.review(Actor("op-reviewing", "reviewer"), alert, "confirm")


# --- 4. urgent starts ---------------------------------------------------------------------------------


def test_4_urgent_start_once_and_a_rejection_takes_back_everything(overt) -> None:
    urgent = overt.deployments.apply(OP, spec(name="urgent"))
    overt.deployments.urgent_start(OP, urgent, "child missing since this morning; court closed")
    enrol(overt, urgent, "p042", "042_neutral.jpg")
    overt.gallery.identify(OP, urgent, FACES / "042_smiling.jpg", ["missing"], case="C")
    overt.deployments.amend(OP, urgent, spec(name="urgent", max_watchlist_size=2))
    with pytest.raises(Refused, match="urgent-once"):
        overt.deployments.urgent_start(OP, urgent, "again: the clock must not restart")
    with overt.db.session() as session:
        session.add(ActivityCount(deployment_id=urgent, camera_id="", hour=session.get(Deployment, urgent).created_at,
                                  faces_seen=7))
    assert overt.deployments.decide(JUDGE, urgent, "reject", "not necessary") == "rejected"
    with overt.db.session() as session:
        assert session.scalar(select(func.count(Subject.id)).where(Subject.deployment_id == urgent)) == 0
        assert session.scalar(select(func.count(Template.id))) == 0
        assert session.scalar(select(func.count()).select_from(ReferenceImage)) == 0
        assert session.scalar(select(func.count(ActivityCount.id))) == 0
    (record,) = overt.deployments.public_records(urgent)
    assert record["withdrawn"] and "withdrawn" in record["use"]
    assert record["alerts"] == record["searches"] == record["faces_seen"] == 0


# --- 5. paperwork -------------------------------------------------------------------------------------


def test_5_assessments_need_their_kinds_real_documents_and_matching_hashes(overt, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="kind"):
        parse_spec(spec(assessments=[{"kind": "whatever", "ref": "X", "file": str(DOCUMENTS / "dpia.md")}]))
    with pytest.raises(SpecError, match="fria"):
        parse_spec(spec(mode="live", assessments=[{"kind": "dpia", "ref": "X", "file": str(DOCUMENTS / "dpia.md")}]))
    zeros = [{"kind": "dpia", "ref": "X", "file": str(DOCUMENTS / "dpia.md"), "sha256": "0" * 64}]
    with pytest.raises(Refused, match="does not match"):
        overt.deployments.apply(OP, spec(assessments=zeros))
    with pytest.raises(Refused, match="no such file"):
        overt.deployments.apply(OP, spec(assessments=[{"kind": "dpia", "ref": "X", "file": str(tmp_path / "no")}]))
    deployment = overt.deployments.apply(OP, spec())
    shown = overt.deployments.show(JUDGE, deployment)
    (document,) = shown["documents"]
    content = (DOCUMENTS / "dpia.md").read_bytes()
    assert document["sha256"] == hashlib.sha256(content).hexdigest() == shown["spec"]["assessments"][0]["sha256"]
    with overt.db.session() as session:
        stored = session.scalar(select(AssessmentDocument.data))
    assert content not in stored  # encrypted at rest
    info, read = overt.deployments.document(JUDGE, deployment, document["id"])
    assert read == content and info["sha256"] == document["sha256"]
    with pytest.raises(Refused, match="role"):
        overt.deployments.document(actor("rev1"), deployment, document["id"])
    overt.deployments.decide(JUDGE, deployment, "approve", "read the DPIA")
    (record,) = overt.deployments.public_records(deployment)
    assert record["documents"] == [{"title": "dpia.md", "kind": "dpia", "sha256": document["sha256"]}]


def test_5_the_api_takes_documents_as_uploads_never_server_paths(tmp_path: Path) -> None:
    overt = make_overt(tmp_path / "home")
    client = TestClient(create_app(overt, ApiSettings()))
    token = overt.system.reset_token(actor("admin"), "op")
    headers = {"Authorization": f"Bearer {token}"}
    bare = client.post("/api/deployments", content=spec(), headers={**headers, "Content-Type": "application/yaml"})
    assert bare.status_code == 403 and bare.json()["error"]["rule"] == "assessment"
    created = client.post("/api/deployments", json=api_body(spec()), headers=headers)
    assert created.status_code == 201, created.text


# --- 6. watchlist caps under concurrency ---------------------------------------------------------------


def test_6_parallel_enrolments_never_pass_the_cap(overt) -> None:
    deployment = approved(overt, max_watchlist_size=3)
    images = ["001_neutral.jpg", "004_neutral.jpg", "042_neutral.jpg", "001_smiling.jpg",
              "004_smiling.jpg", "042_smiling.jpg", "025_neutral.jpg", "025_smiling.jpg"]

    def attempt(number: int) -> str:
        try:
            enrol(overt, deployment, f"p{number}", images[number])
            return "ok"
        except Refused as exc:
            return exc.rule

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    # The cap holds; a second photo of someone already enrolled may be refused as a duplicate first (#14).
    assert outcomes.count("ok") == 3 and set(outcomes) <= {"ok", "watchlist-size", "duplicate-subject"}
    with overt.db.session() as session:
        assert session.scalar(select(func.count(Subject.id))) == 3


# --- 7 and 11. people, countersignatures, credentials -------------------------------------------------


@pytest.mark.slow
def test_7_11_the_admin_alone_cannot_staff_a_case_and_names_need_tokens(tmp_path: Path) -> None:
    home = tmp_path / "home"
    info = json.loads(cli(home, "init", "--json").stdout)
    admin, dpo = info["admin_token"], info["dpo_token"]
    assert info["dpo"] == "dpo" and admin and dpo
    added = {}
    for name, role in (("j", "authority"), ("o", "operator"), ("r1", "reviewer"), ("r2", "reviewer"),
                       ("d2", "dpo"), ("a", "auditor")):
        added[name] = json.loads(cli(home, "user", "add", name, "--role", role, "--json", token=admin).stdout)
        assert set(added[name]) == {"name", "role", "token", "status"}
    assert {n: a["status"] for n, a in added.items()} == {"j": "pending", "o": "pending", "r1": "pending",
                                                          "r2": "pending", "d2": "pending", "a": "active"}
    pending = cli(home, "deployment", "list", user="o", token=added["o"]["token"])
    assert pending.returncode == 5 and "pending" in pending.stderr
    self_signed = cli(home, "user", "approve", "o", token=admin)  # the admin cannot countersign
    assert self_signed.returncode == 5 and "role" in self_signed.stderr
    own = cli(home, "user", "approve", "d2", user="d2", token=added["d2"]["token"])  # nor a pending DPO
    assert own.returncode == 5
    assert cli(home, "user", "approve", "o", user="dpo", token=dpo).returncode == 0
    assert cli(home, "deployment", "list", "--json", user="o", token=added["o"]["token"]).returncode == 0
    second = cli(home, "user", "add", "o2", "--role", "reviewer", "--person", "o", "--json", token=admin)
    assert second.returncode == 5 and "one-account" in second.stderr

    # 11: a name is not a credential
    no_token = cli(home, "deployment", "list", user="o")
    assert no_token.returncode == 5 and "credentials" in no_token.stderr
    borrowed = cli(home, "deployment", "list", user="o", token=added["a"]["token"])
    assert borrowed.returncode == 5 and "credentials" in borrowed.stderr
    as_admin_without = cli(home, "user", "list")
    assert as_admin_without.returncode == 5 and "credentials" in as_admin_without.stderr
    lab = cli(home, "verify", str(FACES / "042_neutral.jpg"), str(FACES / "042_smiling.jpg"))  # inside it, too
    assert lab.returncode == 5 and "credentials" in lab.stderr
    audited = cli(home, "verify", str(FACES / "042_neutral.jpg"), str(FACES / "042_smiling.jpg"), "--json",
                  user="a", token=added["a"]["token"])
    assert audited.returncode == 0 and json.loads(audited.stdout)["match"] is True


def test_7_public_counts_of_accounts_per_role(tmp_path: Path) -> None:
    overt = make_overt(tmp_path / "home")
    overt.system.add_user(actor("admin"), "newcomer", "operator")  # pending: not counted
    client = TestClient(create_app(overt, ApiSettings()))
    counts = client.get("/api/public/accounts").json()
    assert counts["operator"] == 2 and counts["reviewer"] == 3 and counts["authority"] == 2 and counts["dpo"] == 1


# --- 8. assignment ------------------------------------------------------------------------------------


def test_8_unassigned_operators_and_reviewers_are_refused_reads_included(tmp_path: Path) -> None:
    overt = make_overt(tmp_path / "home")
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt)
    enrol(overt, deployment, "p042", "042_neutral.jpg")
    (alert,) = overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")["alerts"]
    client = TestClient(create_app(overt, ApiSettings()))
    outsider = {"Authorization": f"Bearer {overt.system.reset_token(actor('admin'), 'op2')}"}
    assert client.get("/api/alerts", headers=outsider).json() == []
    for path in (f"/api/alerts/{alert}", f"/api/alerts/{alert}/evidence/crop", f"/api/alerts/{alert}/reference"):
        refused = client.get(path, headers=outsider)
        assert refused.status_code == 403 and refused.json()["error"]["rule"] == "not-assigned", path
    with pytest.raises(Refused, match="not-assigned"):
        overt.gallery.identify(actor("op2"), deployment, FACES / "042_smiling.jpg", ["missing"], case="C")
    overt.system.add_user(actor("admin"), "rev4", "reviewer")
    overt.system.approve_user(actor("dpo"), "rev4")
    with pytest.raises(Refused, match="not-assigned"):
        overt.alerts.review(Actor("rev4", "reviewer"), alert, "confirm")
    with pytest.raises(Refused, match="role"):
        overt.deployments.assign(actor("admin"), deployment, "op2")
    overt.deployments.assign(actor("dpo"), deployment, "op2")
    assert [a["id"] for a in client.get("/api/alerts", headers=outsider).json()] == [alert]
    assert refusals(overt, "not-assigned") >= 5


# --- 10. the gate before the engine ----------------------------------------------------------------------


class RecordingEngine(FaceEngine):
    """The real engine, noting every call that decodes or templates an image."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.calls: list[str] = []

    def load(self, source):
        self.calls.append("load")
        return super().load(source)

    def detect(self, image):
        self.calls.append("detect")
        return super().detect(image)

    def embed(self, image, face):
        self.calls.append("embed")
        return super().embed(image, face)


def test_10_refused_operations_never_touch_the_image(overt) -> None:
    engine = RecordingEngine(overt.settings.engine_config())
    overt.lab._engine = engine
    deployment = approved(overt, max_watchlist_size=1)
    probe = FACES / "042_smiling.jpg"
    attempts = [
        lambda: overt.gallery.identify(OP, deployment, probe, ["missing"]),  # no case reference
        lambda: overt.gallery.identify(OP, deployment, probe, ["missing"], case="C", threshold=float("nan")),
        lambda: overt.gallery.identify(actor("op2"), deployment, probe, ["missing"], case="C"),  # not assigned
        lambda: overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("x", (probe,), "suspect-x")),
        lambda: overt.verify(Actor("public", "public"), probe, probe),  # lab verify inside an installation
    ]
    for attempt in attempts:
        with pytest.raises(Refused):
            attempt()
    assert engine.calls == []
    enrol(overt, deployment, "p001", "001_neutral.jpg")
    engine.calls.clear()
    with pytest.raises(Refused, match="watchlist-size"):
        enrol(overt, deployment, "p004", "004_neutral.jpg")
    assert engine.calls == []
    overt.gallery.identify(OP, deployment, probe, ["missing"], case="C")
    assert {"load", "detect", "embed"} <= set(engine.calls)  # the instrument does see allowed work


# --- 12. public records keep their figures; outcomes are structured ----------------------------------------


def test_12_public_figures_of_their_time_and_counted_outcomes(overt) -> None:
    deployment = approved(overt)
    enrol(overt, deployment, "p042", "042_neutral.jpg")
    enrol(overt, deployment, "p001", "001_neutral.jpg")
    (alert,) = overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")["alerts"]
    overt.alerts.review(actor("rev1"), alert, "confirm")
    overt.alerts.review(actor("rev2"), alert, "confirm")
    with pytest.raises(Refused, match="outcome-kind"):
        overt.alerts.record_outcome(OP, alert, "", kind="other")
    with pytest.raises(Refused, match="outcome-kind"):
        overt.alerts.record_outcome(OP, alert, "took him in", kind="detained-ish")
    overt.alerts.record_outcome(OP, alert, "", kind="arrest")
    overt.gallery.remove_subject(OP, "missing", "p042", "found")
    overt.gallery.remove_subject(OP, "missing", "p001", "found")
    (record,) = overt.deployments.public_records(deployment)
    assert record["watchlist_size"] == 2 and record["watchlist_size_by_day"][-1]["watchlist_size"] == 2
    assert record["reviewers_required"] == 2
    assert (record["alerts"], record["true_alerts"], record["false_alerts"], record["arrests"]) == (1, 1, 0, 1)
    assert record["outcomes_by_kind"]["arrest"] == 1


def test_a_snapshot_edited_with_sql_suspends_the_deployment(overt) -> None:
    deployment = approved(overt)
    with overt.db.session() as session:  # an insider lowers the pinned threshold straight in the database
        row = session.get(Deployment, deployment)
        row.snapshot = {**row.snapshot, "threshold": 0.1}
    with pytest.raises(Refused, match="amended"):
        overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C")
    assert overt.deployments.show(JUDGE, deployment)["status"] == "amended"


def test_approval_event_carries_the_snapshot_hash(overt) -> None:
    deployment = approved(overt)
    with overt.db.session() as session:
        row = session.get(Deployment, deployment)
        details = json.loads(session.scalar(select(AuditRecord.details).where(
            AuditRecord.action == "deployment.approve", AuditRecord.deployment_id == deployment)))
        assert details["snapshot_sha256"] == row.snapshot_sha256 and len(row.snapshot_sha256) == 64
        assert set(row.snapshot) >= {"cameras", "calibration", "threshold", "watchlists", "reviewers_required",
                                     "retention_days", "assigned"}


def test_template_applies_and_is_approvable_as_printed(tmp_path: Path) -> None:
    overt = make_overt(tmp_path / "home")
    folder = tmp_path / "application"
    folder.mkdir()
    for kind, (name, _) in EXAMPLE_DOCUMENTS.items():
        (folder / name).write_text(example_document(kind))
    text = overt.deployments.template()
    assert yaml.safe_load(text)["watchlists"] == ["missing-persons"]
    assert f"{overt.calibrated_threshold():g}" in text
    notes = overt.deployments.notes(text)
    assert any("station-n" in n for n in notes) and any("missing-persons" in n for n in notes)
    overt.cameras.add(actor("admin"), CameraInfo("station-n", "rtsp://cam.local/stream", "Station", 44.81, 20.46))
    deployment = overt.deployments.apply(OP, text, base=folder)
    assert overt.deployments.decide(JUDGE, deployment, "approve", "as printed") == "approved"
    past = yaml.safe_load(text)
    past["windows"] = [{"start": "2020-01-01T08:00:00Z", "end": "2020-01-01T20:00:00Z"},
                       {"start": "2019-01-01T08:00:00Z", "end": "2019-01-02T08:00:00Z"}]
    with pytest.raises(SpecError) as problems:
        overt.deployments.apply(OP, yaml.safe_dump(past), base=folder)
    lines = str(problems.value).splitlines()
    assert len(lines) == 3 and all(line.startswith("windows[") for line in lines)


def test_snapshot_pins_threshold_numbers_not_references(overt) -> None:
    deployment = approved(overt)
    with overt.db.session() as session:
        row = session.get(Deployment, deployment)
        assert isinstance(row.snapshot["threshold"], float) and np.isfinite(row.snapshot["threshold"])
        assert row.snapshot["calibration"]["model"] == overt.lab.engine.model_id
