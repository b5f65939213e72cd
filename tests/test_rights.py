"""People's rights as an insider would test them: who may search for a face, what is really deleted,
what the log keeps, and the letter a person receives. Service tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from overt.governance.permissions import Refused
from overt.rights.requests import add_months
from overt.services import Overt
from overt.services.gallery import EnrolRequest
from overt.storage.models import Alert, AuditRecord, Evidence, ReferenceImage, RequestPhoto, Subject, Template
from tests.governance_helpers import actor, approved, make_overt

FACES = Path(__file__).parent / "data" / "faces"
OP, DPO = actor("op"), actor("dpo")


@pytest.fixture
def overt(tmp_path: Path, database_url: str) -> Iterator[Overt]:
    instance = make_overt(tmp_path / "home", database_url)
    instance.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    yield instance
    instance.db.dispose()


def populated(overt: Overt) -> int:
    """Two people on a watchlist, and a search of person 042 that raised an alert with evidence."""
    deployment = approved(overt)
    for ref, image in (("case-42", "042_neutral.jpg"), ("case-1", "001_neutral.jpg")):
        overt.gallery.enroll(OP, deployment, "missing", EnrolRequest(ref, (FACES / image,), "missing-person"))
    result = overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case="C-1")
    assert [c["subject"] for c in result["candidates"]] == ["case-42"]
    return deployment


def count(overt: Overt, model: type, *where) -> int:
    with overt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def records(overt: Overt, action: str) -> list[AuditRecord]:
    with overt.db.session() as session:
        return list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def test_access_lists_watchlists_and_alerts_then_closing_deletes_the_photo(overt: Overt) -> None:
    populated(overt)
    alerts_before = count(overt, Alert)
    view = overt.rights.access(DPO, (FACES / "042_neutral.jpg").read_bytes(), requester="Jane Roe", channel="post")
    assert [(f["watchlist"], f["subject"]) for f in view["found"]] == [("missing", "case-42")]
    assert len(view["alerts"]) == 1 and view["alerts"][0]["status"] == "pending" and view["alerts"][0]["time"]
    assert view["deadline"][:10] == add_months(view_opened(view), 1).date().isoformat()
    # the search raised no alert, and the log holds ids and a hash, never the reference or the requester
    assert count(overt, Alert) == alerts_before
    (search,) = records(overt, "request.search")
    assert "case-42" not in search.details and "Jane" not in search.details
    assert json.loads(search.details)["alert_ids"] == [view["alerts"][0]["id"]]
    assert count(overt, RequestPhoto) == 1
    closed = overt.rights.close(DPO, view["id"], note="answered by post")
    assert closed["status"] == "closed" and closed["outcome"] == "answered" and not closed["has_photo"]
    with overt.db.session() as session:  # straight at the database: the photo and template rows are gone
        assert session.execute(text("SELECT count(*) FROM request_photos")).scalar() == 0
    (close,) = records(overt, "request.close")
    assert json.loads(close.details)["photo_deleted"] is True and json.loads(close.details)["on_time"] is True
    with pytest.raises(Refused, match="closed"):
        overt.rights.search_again(DPO, view["id"])


def view_opened(view: dict):
    from datetime import datetime

    return datetime.fromisoformat(view["opened"])


def test_only_the_dpo_searches_and_the_photo_is_not_decoded_before(overt: Overt) -> None:
    populated(overt)
    for name in ("op", "aud", "admin", "judge", "rev1"):
        with pytest.raises(Refused) as refused:
            overt.rights.access(actor(name), b"not an image at all", requester="X")
        assert refused.value.rule == "role"  # refused on the role, not on the bytes: nothing was decoded
    refusals = [json.loads(r.details) for r in records(overt, "gate.refused")]
    assert sum(r["operation"] == "subject-request" for r in refusals) == 5
    assert count(overt, RequestPhoto) == 0 and records(overt, "operation.failed") == []


def test_a_face_seen_only_in_evidence_is_found(overt: Overt) -> None:
    """Person 001 was searched for and then removed from the watchlist: the alert's evidence is theirs."""
    deployment = populated(overt)
    result = overt.gallery.identify(OP, deployment, FACES / "001_smiling.jpg", ["missing"], case="C-2")
    (alert_id,) = result["alerts"]
    overt.gallery.remove_subject(OP, "missing", "case-1", reason="found")
    view = overt.rights.access(DPO, (FACES / "001_neutral.jpg").read_bytes(), requester="John Doe")
    assert view["found"] == []
    assert [(a["id"], a["basis"]) for a in view["alerts"]] == [(alert_id, "evidence")]
    assert view["searched"]["evidence"] >= 1


def test_erasure_leaves_no_template_photo_alert_or_evidence(overt: Overt) -> None:
    populated(overt)
    with overt.db.session() as session:
        subject_id = session.scalar(select(Subject.id).where(Subject.reference == "case-42"))
        template_ids = list(session.scalars(select(Template.id).where(Template.subject_id == subject_id)))
        alert_ids = list(session.scalars(select(Alert.id).where(Alert.subject_id == subject_id)))
    assert template_ids and alert_ids and count(overt, Evidence, Evidence.alert_id.in_(alert_ids)) == 1
    with pytest.raises(Refused, match="photo"):
        overt.rights.open(DPO, "erasure", requester="Jane Roe")
    opened = overt.rights.open(DPO, "erasure", requester="Jane Roe", photo=(FACES / "042_smiling.jpg").read_bytes())
    with pytest.raises(Refused, match="erase"):
        overt.rights.decide(DPO, opened["id"], "grant", "yes")
    erased = overt.rights.erase(DPO, opened["id"], reason="no longer missing")
    assert erased["outcome"] == "erased" and erased["deleted"]["templates"] == len(template_ids)
    assert count(overt, Subject, Subject.id == subject_id) == 0
    assert count(overt, Template, Template.id.in_(template_ids)) == 0
    assert count(overt, ReferenceImage, ReferenceImage.subject_id == subject_id) == 0
    assert count(overt, Alert, Alert.id.in_(alert_ids)) == 0
    assert count(overt, Evidence, Evidence.alert_id.in_(alert_ids)) == 0
    assert count(overt, Subject) == 1  # the other person stays
    (erase,) = records(overt, "request.erase")
    details = json.loads(erase.details)
    assert details["subject_ids"] == [subject_id] and details["template_ids"] == template_ids
    assert details["alert_ids"] == alert_ids and details["deleted"]["evidence"] == 1
    assert "case-42" not in erase.details and "case-42" not in json.dumps(erased)
    # a search afterwards finds nothing: the index followed the deletion
    assert overt.rights.access(DPO, (FACES / "042_neutral.jpg").read_bytes(), requester="Jane Roe")["found"] == []
    with pytest.raises(Refused, match="already decided"):
        overt.rights.erase(DPO, opened["id"])
    overt.rights.close(DPO, opened["id"], note="erased")
    assert count(overt, RequestPhoto, RequestPhoto.request_id == opened["id"]) == 0


def test_deadline_extension_refusal_and_letter(overt: Overt) -> None:
    opened = overt.rights.open(DPO, "objection", requester="Sam", details="I object to the station camera")
    with pytest.raises(Refused, match="reason"):
        overt.rights.extend(DPO, opened["id"], "")
    extended = overt.rights.extend(DPO, opened["id"], "many records to check", months=2)
    assert extended["deadline"] > opened["deadline"]
    with pytest.raises(Refused, match="at most 2 months"):
        overt.rights.extend(DPO, opened["id"], "more", months=1)
    with pytest.raises(Refused, match="needs a decision"):
        overt.rights.close(DPO, opened["id"])
    with pytest.raises(Refused, match="legal ground"):
        overt.rights.decide(DPO, opened["id"], "refuse", "compelling grounds")
    overt.rights.decide(DPO, opened["id"], "refuse", "compelling legitimate grounds", ground="GDPR Art. 21(1)")
    overt.rights.close(DPO, opened["id"])
    letter = overt.rights.letter(DPO, opened["id"], "html").decode()
    assert "refused" in letter and "GDPR Art. 21(1)" in letter and "Art. 77" in letter
    pdf = overt.rights.letter(DPO, opened["id"], "pdf")
    assert pdf.startswith(b"%PDF") and len(records(overt, "request.letter")) == 2


def test_deadlines_are_calendar_months() -> None:
    from datetime import UTC, datetime

    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 2) == datetime(2027, 2, 15, tzinfo=UTC)
    assert add_months(datetime(2026, 3, 1, tzinfo=UTC), 1) - datetime(2026, 3, 1, tzinfo=UTC) == timedelta(days=31)


# --- the command line, as scripts use it -------------------------------------------------------------


def cli(
    home: Path, user: str | None, *args: str, token: str = "", check: bool = True, db: str = ""
) -> subprocess.CompletedProcess:
    """One place that says who acts (`--as USER` with USER's token in OVERT_TOKEN)."""
    env = {**os.environ, "OVERT_HOME": str(home), "COLUMNS": "200", "OVERT_TOKEN": token}
    env.pop("OVERT_USER", None)
    if "postgres" in db:
        env["OVERT_DATABASE_URL"] = db
    prefix = ["--as", user] if user else []
    result = subprocess.run(
        [sys.executable, "-m", "overt", *prefix, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert "Traceback" not in result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"overt {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def test_request_contract_on_the_command_line(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    overt = make_overt(home, database_url)
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    populated(overt)
    tokens = {name: overt.system.reset_token(actor("admin"), name) for name in ("op", "dpo", "aud")}
    overt.db.dispose()

    def run(user: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return cli(home, user, *args, token=tokens[user], check=check, db=database_url)

    photo = str(FACES / "042_neutral.jpg")
    refused = run("op", "request", "access", photo, "--requester", "Jane", "--json", check=False)
    assert refused.returncode == 5 and len(refused.stderr.strip().splitlines()) == 1
    out = json.loads(run("dpo", "request", "access", photo, "--requester", "Jane", "--json").stdout)
    assert {"id", "found", "alerts"} <= set(out)
    assert out["found"][0]["watchlist"] == "missing" and out["found"][0]["subject"] == "case-42"
    closed = json.loads(run("dpo", "request", "close", str(out["id"]), "--note", "sent", "--json").stdout)
    assert closed["status"] == "closed"
    later = Overt(overt.settings)  # a new process's view of the same installation
    db = later.db
    with db.session() as session:
        assert session.execute(text("SELECT count(*) FROM request_photos")).scalar() == 0
    erasure = json.loads(run("dpo", "request", "open", "erasure", photo, "--requester", "Jane", "--json").stdout)
    erased = json.loads(run("dpo", "request", "erase", str(erasure["id"]), "--json").stdout)
    assert erased["outcome"] == "erased" and erased["deleted"]["subjects"] == 1
    with db.session() as session:
        assert session.execute(text("SELECT count(*) FROM subjects WHERE reference = 'case-42'")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM alerts")).scalar() == 0
    letter = tmp_path / "letter.pdf"
    run("dpo", "request", "letter", str(erasure["id"]), "--format", "pdf", "--out", str(letter))
    assert letter.read_bytes().startswith(b"%PDF")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a photo")
    bad = run("dpo", "request", "access", str(broken), "--requester", "X", check=False)
    assert bad.returncode == 4 and len(bad.stderr.strip().splitlines()) == 1
    unknown = run("dpo", "request", "open", "deletion", "--requester", "X", check=False)
    assert unknown.returncode == 5 and "request-kind" in unknown.stderr
    complaint = later.complaints.submit("The notice is missing", place="Station N")
    run("dpo", "complaint", "triage", str(complaint), "--priority", "urgent")
    answered = json.loads(
        run("dpo", "complaint", "answer", str(complaint), "upheld", "--answer", "Fixed.", "--json").stdout
    )
    assert answered["status"] == "answered" and answered["outcome"] == "upheld"
    assert run("aud", "complaint", "list", check=False).returncode == 5
    db.dispose()


def test_annual_report_counts_requests_and_complaints(overt: Overt) -> None:
    from datetime import UTC, datetime

    populated(overt)
    access = overt.rights.access(DPO, (FACES / "042_neutral.jpg").read_bytes(), requester="Jane Roe")
    overt.rights.close(DPO, access["id"])
    objection = overt.rights.open(DPO, "objection", requester="Sam")
    overt.rights.decide(DPO, objection["id"], "refuse", "overriding grounds", ground="GDPR Art. 21(1)")
    overt.rights.close(DPO, objection["id"])
    overt.rights.open(DPO, "rectification", requester="Kim")
    complaint = overt.complaints.submit("The camera at the station has no notice", place="Station N")
    overt.complaints.answer(DPO, complaint, "upheld", "A notice was put up.")
    today = datetime.now(UTC).date()
    report = overt.reports.annual(actor("aud"), today, today)
    (rights,) = [s for s in report["sections"] if s["key"] == "rights"]
    values = {i["key"]: i["value"] for i in rights["items"]}
    assert values["subject_requests"] == 3
    assert values["subject_requests_by_kind"] == {"access": 1, "objection": 1, "rectification": 1}
    assert values["subject_requests_by_outcome"] == {"access: answered": 1, "objection: refused": 1}
    assert values["subject_request_days_median"] == 0 and values["subject_requests_late"] == 0
    assert values["complaints"] == 1 and values["complaints_by_outcome"] == {"upheld": 1}
    assert overt.reports.verify(actor("aud"), report).ok


# --- complaints, through the public API ------------------------------------------------------------------


def test_a_complaint_from_the_public_form_to_its_answer(tmp_path: Path) -> None:
    from PIL import Image

    from overt.services.complaints import ATTACHMENT_CONTEXT
    from overt.storage.models import Complaint
    from tests.test_api import jpeg_bytes, make_site

    site = make_site(tmp_path / "home")
    photo = jpeg_bytes((320, 240), exif_gps=True)
    assert b"ReporterPhone" in photo and Image.open(io.BytesIO(photo)).getexif()
    sent = site.client.post(
        "/api/public/complaints",
        data={"what": "A camera filmed the protest", "place": "Main square", "when": "2026-11-30 14:00"},
        files={"attachment": ("p.jpg", photo, "image/jpeg")},
    )
    assert sent.status_code == 201, sent.text
    complaint_id = sent.json()["id"]
    # the stored bytes, read straight from the database and decrypted: no EXIF, no GPS, no device
    with site.overt.db.session() as session:
        stored = session.execute(text("SELECT attachment FROM complaints WHERE id = :i"), {"i": complaint_id}).scalar()
    assert b"ReporterPhone" not in stored and b"Exif" not in stored  # ciphertext
    plain = site.overt.keys.decrypt(stored, ATTACHMENT_CONTEXT)
    assert b"Exif" not in plain and b"ReporterPhone" not in plain and not Image.open(io.BytesIO(plain)).getexif()
    assert Image.open(io.BytesIO(plain)).size == (320, 240)
    # the DPO's register: the public and other roles cannot read it
    assert site.client.get("/api/complaints", headers=site.auth("aud")).status_code == 403
    assert site.client.get("/api/complaints").status_code == 401
    listed = site.client.get("/api/complaints?status=pending", headers=site.auth("dpo")).json()
    assert [c["id"] for c in listed] == [complaint_id] and listed[0]["has_attachment"]
    got = site.client.get(f"/api/complaints/{complaint_id}/attachment", headers=site.auth("dpo"))
    assert got.status_code == 200 and got.content == plain
    triaged = site.client.post(
        f"/api/complaints/{complaint_id}/triage", json={"priority": "urgent"}, headers=site.auth("dpo")
    )
    assert triaged.json()["status"] == "triaged"
    answered = site.client.post(
        f"/api/complaints/{complaint_id}/answer",
        json={"outcome": "partly-upheld", "answer": "The deployment's notice was missing; it is up now."},
        headers=site.auth("dpo"),
    ).json()
    assert answered["status"] == "answered" and not answered["has_attachment"]
    with site.overt.db.session() as session:
        complaint = session.get(Complaint, complaint_id)
        assert complaint is not None and complaint.attachment is None and complaint.outcome == "partly-upheld"
    again = site.client.post(
        f"/api/complaints/{complaint_id}/answer", json={"outcome": "upheld", "answer": "x"}, headers=site.auth("dpo")
    )
    assert again.status_code == 403 and again.json()["error"]["rule"] == "complaint-answered"
    not_image = site.client.post(
        "/api/public/complaints", data={"what": "x"}, files={"attachment": ("x.jpg", b"not an image", "image/jpeg")}
    )
    assert not_image.status_code in (403, 422) and "Traceback" not in not_image.text
    actions = [r.action for r in records(site.overt, "complaint.receive")] + [
        r.action for r in records(site.overt, "complaint.answer")
    ]
    assert actions == ["complaint.receive", "complaint.answer"]


def test_access_request_over_http(tmp_path: Path) -> None:
    from tests.test_api import make_site

    site = make_site(tmp_path / "home")
    photo = (FACES / "042_neutral.jpg").read_bytes()
    refused = site.client.post(
        "/api/requests/access", data={"requester": "J"}, files={"photo": ("p.jpg", photo)}, headers=site.auth("op")
    )
    assert refused.status_code == 403 and refused.json()["error"]["rule"] == "role"
    made = site.client.post(
        "/api/requests/access", data={"requester": "J"}, files={"photo": ("p.jpg", photo)}, headers=site.auth("dpo")
    )
    assert made.status_code == 201 and made.json()["found"] == [] and made.json()["alerts"] == []
    request_id = made.json()["id"]
    letter = site.client.get(f"/api/requests/{request_id}/letter?format=pdf", headers=site.auth("dpo"))
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    closed = site.client.post(f"/api/requests/{request_id}/close", json={"note": "none held"}, headers=site.auth("dpo"))
    assert closed.json()["status"] == "closed" and not closed.json()["has_photo"]


def test_a_closed_requests_photo_is_not_left_in_the_sqlite_files(overt: Overt) -> None:
    if not overt.db.is_sqlite:
        pytest.skip("inspects the SQLite file's bytes")
    opened = overt.rights.access(DPO, (FACES / "042_neutral.jpg").read_bytes(), requester="Jane Roe")
    with overt.db.session() as session:
        image, template = session.execute(text("SELECT image, template FROM request_photos")).one()
    path = Path(overt.db.engine.url.database or "")
    files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    assert any(image[-64:] in p.read_bytes() for p in files)  # the detector is not blind
    overt.rights.close(DPO, opened["id"])
    for p in files:
        if p.exists():
            data = p.read_bytes()
            assert image[-64:] not in data and template[-64:] not in data, p


def test_two_erasures_of_one_request_at_once_delete_and_record_once(overt: Overt) -> None:
    from concurrent.futures import ThreadPoolExecutor

    populated(overt)
    opened = overt.rights.open(DPO, "erasure", requester="Jane Roe", photo=(FACES / "042_smiling.jpg").read_bytes())

    def erase() -> str:
        try:
            return overt.rights.erase(DPO, opened["id"])["outcome"]
        except Refused as exc:
            return exc.rule

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(lambda _: erase(), range(2)))
    assert results == ["erased", "request-decided"]
    assert len(records(overt, "request.erase")) == 1


def test_the_log_holds_requests_and_complaints_against_sql(overt: Overt) -> None:
    """State bound to the log: an erasure verifies; reopening a closed request with SQL does not."""
    populated(overt)
    opened = overt.rights.open(DPO, "erasure", requester="Jane Roe", photo=(FACES / "042_smiling.jpg").read_bytes())
    overt.rights.erase(DPO, opened["id"])
    overt.rights.close(DPO, opened["id"], note="erased")
    complaint = overt.complaints.submit("no notice at the station")
    overt.complaints.answer(DPO, complaint, "upheld", "a notice is up")
    assert overt.system.verify_audit(actor("aud")).ok
    with overt.db.session() as session:
        session.execute(text("UPDATE subject_requests SET status = 'open' WHERE id = :i"), {"i": opened["id"]})
    assert not overt.system.verify_audit(actor("aud")).ok
