"""Reports against a scripted deployment with known numbers, through the real service layer on SQLite.

One installation is scripted once for the module (the face engine is the slow part): deployment D
(retrospective) with 3 alerts (1 confirmed, 1 rejected, 1 inconclusive) and 200 faces seen; an urgent
start U that raised an alert and was then rejected (its alert deleted); an application R that was
returned; a live deployment L that was approved and counted 10 faces. Tests that change the
installation undo their change.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner

from overt.cli.main import app
from overt.cli.output import EXIT_INTEGRITY
from overt.gallery.store import IMAGE_CONTEXT, TEMPLATE_CONTEXT
from overt.governance.permissions import Refused
from overt.reports import CONFIG_KEYS, ConfigError, public_view, render, report_sha256
from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from overt.storage.models import ActivityCount, Alert, AuditRecord, Subject, Template
from tests.governance_helpers import actor, approved, make_overt, spec

FACES = Path(__file__).parent / "data" / "faces"
OP, AUD = actor("op"), actor("aud")
REFERENCE = "SUBJREF-7731-Q"  # a watchlist subject reference: must never appear in a report
WATCHLIST = "wl-north-7f3q"  # watchlist names are internal
OUTCOME = "detained by officer 4411"  # an operator's words: internal only
CAMERA_SECRET = "s3cr3t-pass"
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("reports") / "home"
    overt = make_overt(home)
    admin = actor("admin")
    overt.gallery.create_watchlist(admin, WATCHLIST, categories=["missing-person"])
    camera = CameraInfo("cam-1", f"rtsp://viewer:{CAMERA_SECRET}@10.0.0.5/live", "Station north", 51.53, -0.12, 90.0)
    overt.cameras.add(admin, camera)
    d = approved(overt, name="Station search", watchlists=[WATCHLIST])
    overt.gallery.enroll(OP, d, WATCHLIST, EnrolRequest(REFERENCE, (FACES / "042_neutral.jpg",), "missing-person"))
    alerts = [
        overt.gallery.identify(OP, d, FACES / "042_smiling.jpg", [WATCHLIST], case="C-1")["alerts"][0] for _ in range(3)
    ]
    for alert_id, (first, second) in zip(
        alerts, [("confirm", "confirm"), ("reject", "reject"), ("confirm", "reject")], strict=True
    ):
        overt.alerts.review(actor("rev1"), alert_id, first, "looked closely")
        overt.alerts.review(actor("rev2"), alert_id, second)
    overt.alerts.record_outcome(OP, alerts[0], OUTCOME)

    u = overt.deployments.apply(OP, spec(name="Urgent search", watchlists=[WATCHLIST]))
    overt.deployments.urgent_start(OP, u, "child missing since this morning; court closed")
    overt.gallery.identify(OP, u, FACES / "042_smiling.jpg", [WATCHLIST], case="C-2")
    overt.deployments.decide(actor("judge"), u, "reject", "not necessary")
    r = overt.deployments.apply(OP, spec(name="Returned application", watchlists=[WATCHLIST]))
    overt.deployments.decide(actor("judge"), r, "return", "say which cameras")
    live = approved(overt, name="Live watch", mode="live", watchlists=[WATCHLIST])

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with overt.db.session() as session:
        session.add(
            ActivityCount(
                deployment_id=d,
                camera_id="cam-1",
                hour=hour - timedelta(hours=1),
                frames=1000,
                faces_seen=120,
                tracks=30,
            )
        )
        session.add(ActivityCount(deployment_id=d, camera_id="cam-1", hour=hour, frames=800, faces_seen=80, tracks=20))
        session.add(ActivityCount(deployment_id=live, camera_id="cam-1", hour=hour, frames=50, faces_seen=10, tracks=3))
        subject = session.scalar(select(Subject).where(Subject.reference == REFERENCE))
        template = session.scalar(select(Template).where(Template.subject_id == subject.id))
        ciphertext, image_ciphertext = template.vector, subject.image.data
    vector = np.frombuffer(overt.keys.decrypt(ciphertext, TEMPLATE_CONTEXT), dtype=np.float32)
    secrets = [REFERENCE, CAMERA_SECRET]
    for blob in (
        ciphertext,
        vector.tobytes(),
        overt.keys.decrypt(image_ciphertext, IMAGE_CONTEXT),
        image_ciphertext,
        (FACES / "042_smiling.jpg").read_bytes(),
    ):
        secrets += [base64.b64encode(blob[:48]).decode(), blob[:24].hex()]
    secrets.append(json.dumps([float(v) for v in vector[:3]])[1:-1])
    yield SimpleNamespace(overt=overt, home=home, d=d, u=u, r=r, live=live, alerts=alerts, secrets=secrets)
    overt.db.dispose()


def items(report: dict) -> dict[str, dict]:
    return {i["key"]: i for s in report["sections"] for i in s["items"]}


def values(report: dict) -> dict[str, Any]:
    return {k: i["value"] for k, i in items(report).items()}


def audit_seqs(overt, action: str, deployment_id: int | None = None) -> list[int]:
    query = select(AuditRecord.seq).where(AuditRecord.action == action).order_by(AuditRecord.seq)
    if deployment_id is not None:
        query = query.where(AuditRecord.deployment_id == deployment_id)
    with overt.db.session() as session:
        return list(session.scalars(query))


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def all_texts(report: dict, *, pdf: bool = False) -> dict[str, str]:
    texts = {fmt: render(report, fmt).decode() for fmt in ("json", "csv", "html")}
    if pdf:
        texts["pdf"] = pdf_text(render(report, "pdf"))
    return texts


def test_deployment_record_matches_the_records(world) -> None:
    overt, d = world.overt, world.d
    report = overt.reports.deployment(AUD, d)
    got, by_key = values(report), items(report)
    assert (got["alerts"], got["confirmed"], got["rejected"], got["inconclusive"], got["pending"]) == (3, 1, 1, 1, 0)
    assert got["reviews"] == 6 and got["outcomes"] == 1 and got["searches"] == 3 and got["enrolled"] == 1
    assert got["faces_seen"] == 200 and got["frames"] == 1800 and got["tracks"] == 50
    assert got["watchlist_size"] == 1 and got["categories"] == ["missing-person"]
    assert got["false_alert_rate"] == pytest.approx(1 / 200)
    assert got["authorised_as"] == "approve" and got["authorised_by"] == "judge" and got["spec_matches_authorisation"]
    assert got["cameras"]["rows"][0][:4] == ["cam-1", "Station north", 51.53, -0.12]
    assert got["outcome_actions"]["rows"] == [[OUTCOME, 1]]
    # Cross-checked against the tables and the log themselves.
    with overt.db.session() as session:
        statuses = sorted(session.scalars(select(Alert.status).where(Alert.deployment_id == d)))
    assert statuses == ["confirmed", "inconclusive", "rejected"]
    assert by_key["alerts"]["seqs"] == audit_seqs(overt, "alert.raise", d)
    assert by_key["confirmed"]["seqs"] == audit_seqs(overt, "alert.confirmed", d)
    assert by_key["rejected"]["seqs"] == audit_seqs(overt, "alert.rejected", d)
    assert by_key["searches"]["seqs"] == audit_seqs(overt, "identify", d)
    assert "activity_counts" in by_key["faces_seen"]["query"] and "deployment_id = " in by_key["faces_seen"]["query"]
    with overt.db.session() as session:
        at = dict(session.execute(select(AuditRecord.seq, AuditRecord.at).where(AuditRecord.deployment_id == d)).all())
    raised, decided = (
        by_key["alerts"]["seqs"],
        sorted(by_key["confirmed"]["seqs"] + by_key["rejected"]["seqs"] + by_key["inconclusive"]["seqs"]),
    )
    waits = sorted((at[b] - at[a]).total_seconds() for a, b in zip(raised, decided, strict=True))
    assert got["review_median_s"] == round(waits[1], 1) and got["review_max_s"] == round(waits[2], 1)
    # The log range the report was computed over, and its own audit record.
    head = report["audit"]
    assert all(head["first_seq"] <= s <= head["last_seq"] for i in by_key.values() for s in i["seqs"])
    with overt.db.session() as session:
        generated = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "report.generate").order_by(AuditRecord.seq.desc())
        ).first()
        assert session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == head["last_seq"])) == head["head_hash"]
    assert generated.seq > head["last_seq"] and generated.deployment_id == d and generated.actor == "aud"
    assert json.loads(generated.details) == {"kind": "deployment", "sha256": report_sha256(report)}


def test_annual_report_counts_requests_urgent_starts_and_deleted_alerts(world) -> None:
    overt = world.overt
    report = overt.reports.annual(AUD, TODAY - timedelta(days=1), TODAY)
    got = values(report)
    assert got["requests"] == 4 and got["decisions"] == 4
    assert (got["approved"], got["rejected"], got["returned"]) == (2, 1, 1)
    assert got["urgent_starts"] == 1 and got["urgent_rejected"] == 1 and got["urgent_undecided"] == 0
    assert got["alerts"] == 4  # U's alert was deleted with U's products; the log still counts it
    with overt.db.session() as session:
        assert session.scalar(select(Alert.id).where(Alert.deployment_id == world.u)) is None
    assert got["faces_seen"] == 210 and got["deployments"] == 4
    assert got[f"d{world.d}_confirmed"] == 1 and got[f"d{world.u}_alerts"] == 1 and got[f"d{world.u}_pending"] == 1
    # EU AI Act Art. 5(6): only the live deployment is real-time remote biometric identification.
    assert (got["ai_act_uses"], got["ai_act_requests"], got["ai_act_approved"], got["ai_act_rejected"]) == (1, 1, 1, 0)
    before = overt.reports.annual(AUD, TODAY - timedelta(days=30), TODAY - timedelta(days=2))
    assert values(before)["requests"] == 0 and values(before)["alerts"] == 0


def test_no_biometric_data_or_watchlist_contents_in_any_format(world) -> None:
    overt = world.overt
    reports = {
        "deployment": overt.reports.deployment(AUD, world.d),
        "annual": overt.reports.annual(AUD, TODAY, TODAY),
        "notification": overt.reports.notification(AUD, world.d),
        "accountability": overt.reports.accountability(AUD),
        "public deployment": overt.reports.public_deployment(world.d),
        "public annual": overt.reports.public_annual(TODAY, TODAY),
    }
    for name, report in reports.items():
        for fmt, text in all_texts(report, pdf=name in ("deployment", "public deployment")).items():
            for secret in world.secrets:
                assert secret not in text, f"{name} ({fmt}) contains {secret[:20]!r}"


def test_public_views_keep_only_public_items(world) -> None:
    overt = world.overt
    public = overt.reports.public_deployment(world.d)
    assert public["visibility"] == "public" and "by" not in public["generated"]
    assert all(i["public"] for i in items(public).values())
    assert {"authorised_by", "authorisation_reason", "applicant", "outcome_actions", "watchlists"}.isdisjoint(
        items(public)
    )
    assert values(public)["authorisation_history"]["columns"] == ["seq", "at", "event", "spec_sha256"]
    assert values(public)["confirmed"] == 1 and values(public)["faces_seen"] == 200
    assert public_view(overt.reports.deployment(AUD, world.d))["sections"] == public["sections"]
    with pytest.raises(Refused, match="not-public"):
        overt.reports.public_deployment(world.r)  # returned, never authorised: an application, not a deployment
    annual = overt.reports.public_annual(TODAY, TODAY)
    assert all(i["public"] for i in items(annual).values()) and values(annual)["alerts"] == 4
    reasons = ("necessary and proportionate", "not necessary", "say which cameras", "court closed", "looked closely")
    for view in (public, annual):
        for text in all_texts(view).values():
            for private in (OUTCOME, WATCHLIST, "rev1", "rev2", "judge", *reasons):
                assert private not in text
        assert overt.reports.verify(AUD, json.loads(render(view, "json"))).ok  # public views verify too


def test_notification_states_the_use_without_operational_data(world) -> None:
    report = world.overt.reports.notification(AUD, world.d)
    got = items(report)
    for key in (
        "purpose",
        "legal_basis",
        "windows",
        "cameras",
        "authorised_at",
        "authorised_by",
        "watchlist_size",
        "categories",
        "threshold",
        "assessments",
        "market_surveillance_authority",
    ):
        assert key in got
    assert {"alerts", "confirmed", "outcome_actions", "watchlists", "enrolled", "applicant"}.isdisjoint(got)
    assert {"market_surveillance_authority", "data_protection_authority", "agency"} <= set(report["missing"])


def test_accountability_report_derives_what_it_can_and_flags_the_rest(world) -> None:
    overt, config = world.overt, world.home / "accountability.yaml"
    report = overt.reports.accountability(AUD)
    got = values(report)
    assert got["embedder"] == "dlib-resnet-v1" and got["model_files"]["rows"]
    assert got["cohort"]["licence"] == "CC-BY-4.0" and got["cohort"]["size"] > 100  # the normalisation's provenance
    assert got["calibration_date"] and got["calibration_dataset"]["name"] and got["calibration_groups"]["rows"]
    assert got["all_confirmed"] == 1 and got["all_rejected"] == 1
    assert set(report["missing"]) == set(CONFIG_KEYS) - {"market_surveillance_authority", "data_protection_authority"}
    assert "MISSING: set `complaint_procedure` in accountability.yaml" in render(report, "html").decode()
    try:
        config.write_text("agency: Example Police\ncomplaint_procedure: |\n  Write to the DPO.\ncontakt: typo\n")
        report = overt.reports.accountability(AUD)
        assert values(report)["agency"] == "Example Police" and "complaint_procedure" not in report["missing"]
        assert values(report)["config_unknown_keys"] == ["contakt"]
        config.write_text("agency: [1, 2]\n")
        with pytest.raises(ConfigError, match="agency"):
            overt.reports.accountability(AUD)
    finally:
        config.unlink()


def test_pdf_has_the_figures_as_text(world) -> None:
    report = world.overt.reports.deployment(AUD, world.d)
    data = render(report, "pdf")
    assert data.startswith(b"%PDF")
    text = " ".join(pdf_text(data).split())
    for expected in (
        "Deployment record: Station search",
        "Confirmed matches (true alerts): 1",
        "Rejected by reviewers (false alerts): 1",
        "Faces seen (face detections processed): 200",
        "Station north",
        report_sha256(report)[:16],
    ):
        assert expected in text


def test_verify_passes_on_an_untouched_report_and_names_an_edited_figure(world, tmp_path: Path) -> None:
    overt = world.overt
    runner = CliRunner(env={"OVERT_TOKEN": overt.system.reset_token(actor("admin"), "aud")})
    cli = ["--home", str(world.home), "--as", "aud", "report"]
    path = tmp_path / "record.json"
    result = runner.invoke(app, [*cli, "deployment", str(world.d), "--format", "json", "--out", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    with overt.db.session() as session:
        recorded = session.scalars(select(AuditRecord.details).where(AuditRecord.action == "report.generate")).all()
    assert json.dumps({"kind": "deployment", "sha256": report_sha256(data)}, separators=(",", ":")) in recorded

    verdict = overt.reports.verify(AUD, data)
    assert verdict.ok and verdict.generated_seq and verdict.log_matches, verdict.differences
    assert runner.invoke(app, [*cli, "verify", str(path)]).exit_code == 0

    next(i for s in data["sections"] for i in s["items"] if i["key"] == "confirmed")["value"] = 2
    path.write_text(json.dumps(data))
    result = runner.invoke(app, [*cli, "verify", str(path)])
    assert result.exit_code == EXIT_INTEGRITY
    verdict = overt.reports.verify(AUD, data)
    assert not verdict.ok and verdict.generated_seq is None
    assert any("[confirmed]" in line and "says 2, recomputed 1" in line for line in verdict.differences)


def test_verify_says_when_a_table_changed_since(world) -> None:
    overt = world.overt
    data = json.loads(render(overt.reports.deployment(AUD, world.d), "json"))
    hour = datetime(2020, 1, 1, tzinfo=UTC)
    with overt.db.session() as session:
        session.add(ActivityCount(deployment_id=world.d, camera_id="cam-1", hour=hour, frames=1, faces_seen=5))
    try:
        verdict = overt.reports.verify(AUD, data)
    finally:
        with overt.db.session() as session:
            session.delete(session.scalar(select(ActivityCount).where(ActivityCount.hour == hour)))
    assert not verdict.ok and verdict.generated_seq is not None  # authentic, but the counts moved on
    assert any("[faces_seen]" in line and "a table, which may have changed" in line for line in verdict.differences)


def test_reports_need_the_report_role(world) -> None:
    overt = world.overt
    for who in (actor("rev1"), actor("op")):
        with pytest.raises(Refused, match="role"):
            overt.reports.deployment(who, world.d)
    with pytest.raises(Refused, match="unknown-deployment"):
        overt.reports.deployment(AUD, 999)
    with overt.db.session() as session:
        refusals = session.scalars(select(AuditRecord.details).where(AuditRecord.action == "gate.refused")).all()
    assert sum('"operation":"report.generate"' in r for r in refusals) >= 3


def test_cli_formats(world, tmp_path: Path) -> None:
    runner = CliRunner(env={"OVERT_TOKEN": world.overt.system.reset_token(actor("admin"), "dpo")})
    cli = ["--home", str(world.home), "--as", "dpo", "report"]
    day = TODAY.isoformat()
    result = runner.invoke(app, [*cli, "annual", "--from", day, "--to", day, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["kind"] == "annual"
    pdf = tmp_path / "annual.pdf"
    assert runner.invoke(app, [*cli, "annual", "--from", day, "--to", day, "-f", "pdf", "-o", str(pdf)]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    result = runner.invoke(app, [*cli, "notification", str(world.d), "--format", "csv"])
    assert result.exit_code == 0 and result.stdout.startswith("section,key,label,value")
    result = runner.invoke(app, [*cli, "accountability", "--format", "html"])
    assert result.exit_code == 0 and "<h1>Accountability report</h1>" in result.stdout
    assert runner.invoke(app, [*cli, "annual", "--from", day, "--to", "2000-01-01"]).exit_code != 0
    assert runner.invoke(app, [*cli, "deployment", str(world.d), "--format", "pdf"]).exit_code != 0  # needs --out


def test_html_escapes_every_string(world) -> None:
    report = json.loads(render(world.overt.reports.deployment(AUD, world.d), "json"))
    evil = "<script>alert(1)</script>&"
    report["title"] = report["sections"][0]["title"] = evil
    for item in report["sections"][0]["items"]:
        item["label"] = item["query"] = item["method"] = evil
        if item["kind"] == "table":
            item["value"]["rows"] = [[evil] * len(item["value"]["columns"])]
        else:
            item["value"] = evil
    page = render(report, "html").decode()
    assert "<script>" not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;&amp;") > 20


def test_dates_are_inclusive_utc_days(world) -> None:
    report = world.overt.reports.annual(AUD, date(2000, 1, 1), TODAY)
    assert report["parameters"] == {"from": "2000-01-01", "to": TODAY.isoformat()}
    assert "2000-01-01 00:00:00" in items(report)["requests"]["query"]


def test_every_report_generates_and_verifies_on_each_database(tmp_path: Path, database_url: str) -> None:
    """The queries are plain SQL on SQLite and PostgreSQL alike (JSON columns, grouping, empty IN lists)."""
    overt = make_overt(tmp_path / "home", database_url)
    try:
        overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
        live = approved(overt, name="Live", mode="live")
        with overt.db.session() as session:
            session.add(ActivityCount(deployment_id=live, camera_id="cam-1", hour=datetime.now(UTC), faces_seen=7))
        reports = [
            overt.reports.deployment(AUD, live),
            overt.reports.annual(AUD, TODAY, TODAY),
            overt.reports.notification(AUD, live),
            overt.reports.accountability(AUD),
            overt.reports.public_deployment(live),
        ]
        assert values(reports[0])["faces_seen"] == 7 and values(reports[1])["ai_act_uses"] == 1
        for report in reports:
            verdict = overt.reports.verify(AUD, json.loads(render(report, "json")))
            assert verdict.ok, verdict.differences
    finally:
        overt.db.dispose()
