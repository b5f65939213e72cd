"""The HTTP API end to end, over the same service layer as the CLI: full flows, errors, sessions, live alerts."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from overt.api import ApiSettings, create_app
from overt.api.server import running
from overt.cli.main import app as cli
from overt.config import Settings
from overt.gallery.search import Candidate
from overt.governance.gate import Scope
from overt.services import Actor, NotInitialised, Overt, operate
from overt.services.demo import SUBJECTS, USERS, seed_demo
from overt.storage.models import Subject
from tests.governance_helpers import ROLES, spec

FACES = Path(__file__).parent / "data" / "faces"
OP = Actor("op", "operator")


@dataclass
class Site:
    """One installation with a user per test role, its app, and a client; `auth(name)` gives headers."""

    overt: Overt
    app: FastAPI
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def approved(self, **overrides: Any) -> int:
        """A deployment applied and approved over HTTP (YAML body)."""
        created = self.client.post(
            "/api/deployments",
            content=spec(**overrides),
            headers={**self.auth("op"), "Content-Type": "application/yaml"},
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]
        decided = self.client.post(
            f"/api/deployments/{deployment_id}/approve", json={"reason": "necessary"}, headers=self.auth("judge")
        )
        assert decided.json()["status"] == "approved", decided.text
        return deployment_id


def make_site(home: Path, settings: ApiSettings | None = None) -> Site:
    overt = Overt(Settings(home=home))
    tokens = {"admin": overt.system.init()["admin_token"]}
    admin = overt.actor("admin")
    for name, role in ROLES.items():
        tokens[name] = overt.system.add_user(admin, name, role)
    app = create_app(overt, settings or ApiSettings())
    return Site(overt, app, TestClient(app), tokens)


def jpeg_bytes(size: tuple[int, int] = (64, 48), exif_gps: bool = False) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (120, 130, 140))
    exif = Image.Exif()
    if exif_gps:
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo: where the reporter stood
        exif[0x010F] = "ReporterPhone"  # Make
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def raise_live_alert(overt: Overt, deployment_id: int, subject: int, reference: str, camera: str = "cam-1") -> int:
    """What the stream worker does for a match: a gated `watch` operation raising an alert with evidence."""
    scope = Scope("watch", camera=camera, watchlists=("missing",))
    with operate(overt, OP, "watch", deployment_id=deployment_id, scope=scope) as op:
        candidate = Candidate(
            subject_id=subject, subject=reference, watchlist="missing", score=0.99, raw_score=0.99, template_id=0
        )
        crop = (FACES / "042_smiling.jpg").read_bytes()
        (alert_id,) = overt.alerts.raise_for(op, [candidate], 0.9, camera=camera, track=7, evidence={"crop": crop})
    return alert_id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    built = make_site(tmp_path_factory.mktemp("api") / "home")
    with built.client:
        built.client.post(
            "/api/watchlists", json={"name": "missing", "categories": ["missing-person"]}, headers=built.auth("admin")
        )
        yield built
    built.overt.db.dispose()


def subject_id(site: Site, enrolled: httpx.Response) -> int:
    """The database id of a subject just enrolled (the API never exposes it; alerts need it)."""
    assert enrolled.status_code == 201, enrolled.text
    with site.overt.db.session() as session:
        return session.scalars(select(Subject.id).where(Subject.reference == enrolled.json()["subject"])).one()


def enrol(site: Site, deployment_id: int, reference: str, image: str = "042_neutral.jpg") -> httpx.Response:
    return site.client.post(
        f"/api/deployments/{deployment_id}/watchlists/missing/subjects",
        data={"reference": reference, "category": "missing-person"},
        files=[("images", (image, (FACES / image).read_bytes(), "image/jpeg"))],
        headers=site.auth("op"),
    )


def test_full_flow_apply_approve_enrol_identify_review_twice(site: Site) -> None:
    deployment_id = site.approved(name="Full flow")
    enrolled = enrol(site, deployment_id, "person-flow")
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json() == {"subject": "person-flow", "watchlist": "missing", "templates": 1}

    found = site.client.post(
        f"/api/deployments/{deployment_id}/identify",
        data={"watchlist": ["missing"], "case": "C-1"},
        files={"image": ("probe.jpg", (FACES / "042_smiling.jpg").read_bytes(), "image/jpeg")},
        headers=site.auth("op"),
    )
    assert found.status_code == 200, found.text
    result = found.json()
    assert [c["subject"] for c in result["candidates"]] == ["person-flow"]
    (alert_id,) = result["alerts"]

    crop = site.client.get(f"/api/alerts/{alert_id}/evidence/crop", headers=site.auth("rev1"))
    reference = site.client.get(f"/api/alerts/{alert_id}/reference", headers=site.auth("rev1"))
    for image in (crop, reference):
        assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
        assert image.headers["cache-control"].startswith("no-store")

    first = site.client.post(f"/api/alerts/{alert_id}/review", json={"decision": "confirm"}, headers=site.auth("rev1"))
    assert first.json()["status"] == "pending" and not first.json()["actionable"]
    seen_by_rev2 = site.client.get(f"/api/alerts/{alert_id}", headers=site.auth("rev2")).json()
    assert seen_by_rev2["reviews"] == 1 and seen_by_rev2["decisions"] is None  # blind
    final = site.client.post(
        f"/api/alerts/{alert_id}/review", json={"decision": "confirm", "note": "same"}, headers=site.auth("rev2")
    ).json()
    assert final["status"] == "confirmed" and final["actionable"]
    assert [d["reviewer"] for d in final["decisions"]] == ["rev1", "rev2"]
    again = site.client.post(f"/api/alerts/{alert_id}/review", json={"decision": "reject"}, headers=site.auth("rev3"))
    assert again.status_code == 403 and again.json()["error"]["rule"] == "alert-closed"

    outcome = site.client.post(
        f"/api/alerts/{alert_id}/outcome", json={"outcome": "found safe"}, headers=site.auth("op")
    )
    assert outcome.status_code == 200

    shown = site.client.get(f"/api/deployments/{deployment_id}", headers=site.auth("aud")).json()
    assert [h["decision"] for h in shown["history"]] == ["applied", "approved"]
    public = site.client.get(f"/api/public/deployments/{deployment_id}").json()
    assert (public["alerts"], public["confirmed_matches"], public["false_alerts"], public["outcomes"]) == (1, 1, 0, 1)
    assert public["watchlist_size"] >= 1 and "person-flow" not in json.dumps(public)


def test_deployment_life_cycle_with_json_bodies(site: Site) -> None:
    body = yaml.safe_load(spec(name="Life cycle"))
    created = site.client.post("/api/deployments", json=body, headers=site.auth("op"))
    assert created.status_code == 201
    deployment_id = created.json()["id"]
    mine = site.client.post(f"/api/deployments/{deployment_id}/approve", json={"reason": "x"}, headers=site.auth("op"))
    assert mine.status_code == 403 and mine.json()["error"]["rule"] == "role"
    other = site.client.post(
        f"/api/deployments/{deployment_id}/approve", json={"reason": "x"}, headers=site.auth("judge2")
    )
    assert other.json()["error"]["rule"] == "wrong-authority"
    returned = site.client.post(
        f"/api/deployments/{deployment_id}/return", json={"reason": "narrow it"}, headers=site.auth("judge")
    )
    assert returned.json()["status"] == "returned"
    amended = site.client.put(
        f"/api/deployments/{deployment_id}",
        content=spec(name="Life cycle", max_watchlist_size=2),
        headers={**site.auth("op"), "Content-Type": "application/yaml"},
    )
    assert amended.json()["status"] == "pending"
    urgent = site.client.post(
        f"/api/deployments/{deployment_id}/urgent",
        json={"justification": "child missing, court closed"},
        headers=site.auth("op"),
    )
    assert urgent.json()["status"] == "urgent"
    revoked = site.client.post(
        f"/api/deployments/{deployment_id}/revoke", json={"reason": "done"}, headers=site.auth("dpo")
    )
    assert revoked.json()["status"] == "revoked"
    history = site.client.get(f"/api/deployments/{deployment_id}", headers=site.auth("judge")).json()["history"]
    assert [h["decision"] for h in history] == ["applied", "returned", "amended", "urgent", "revoked"]
    assert any(d["id"] == deployment_id for d in site.client.get("/api/deployments", headers=site.auth("rev1")).json())

    bad = site.client.post(
        "/api/deployments", content="purpose: fun\n", headers={**site.auth("op"), "Content-Type": "application/yaml"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["rule"] == "spec"
    empty = site.client.post("/api/deployments", content=b"", headers={**site.auth("op"), "Content-Type": "text/plain"})
    assert empty.status_code == 422
    template = site.client.get("/api/deployments/template", headers=site.auth("op"))
    assert template.headers["content-type"].startswith("text/plain") and "public_notice" in template.text


def test_errors_are_json(site: Site) -> None:
    cases = [
        (site.client.get("/api/nowhere"), 404, "not-found"),
        (site.client.delete("/api/public/cameras"), 405, "method-not-allowed"),
        (site.client.get("/api/alerts"), 401, "token"),
        (site.client.get("/api/alerts", headers={"Authorization": "Bearer ovt_wrong"}), 401, "token"),
        (site.client.get("/api/alerts", headers={"Authorization": "Basic abc"}), 401, "token"),
        (site.client.get("/api/deployments/999999", headers=site.auth("op")), 404, "unknown-deployment"),
        (site.client.get("/api/watchlists/nope", headers=site.auth("op")), 404, "gallery"),
        (site.client.get("/api/alerts/abc", headers=site.auth("op")), 422, "validation"),
        (
            site.client.post(
                "/api/watchlists", content=b"{", headers={**site.auth("op"), "Content-Type": "application/json"}
            ),
            422,
            "validation",
        ),
        (site.client.post("/api/users", json={"name": "x", "role": "reviewer"}, headers=site.auth("op")), 403, "role"),
    ]
    for response, status, rule in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["rule"] == rule and response.json()["error"]["message"]
    assert site.client.get("/api/alerts").headers["www-authenticate"] == "Bearer"


def test_unhandled_errors_are_bare_json(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(site.overt.cameras, "public", explode)
    client = TestClient(site.app, raise_server_exceptions=False)
    response = client.get("/api/public/cameras")
    assert response.status_code == 500 and response.json()["error"]["rule"] == "internal"
    assert "internal detail" not in response.text and response.headers["x-content-type-options"] == "nosniff"


def test_console_session_cookie(site: Site) -> None:
    client = TestClient(site.app)
    assert client.post("/api/session", json={"token": "ovt_not-a-token"}).status_code == 401
    login = client.post("/api/session", json={"token": site.tokens["rev1"]})
    assert login.status_code == 200 and login.json()["role"] == "reviewer"
    assert "alert.review" in login.json()["may"] and "identify" not in login.json()["may"]
    cookies = login.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("overt_session="))
    csrf_cookie = next(c for c in cookies if c.startswith("overt_csrf="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    assert "HttpOnly" not in csrf_cookie and "SameSite=strict" in csrf_cookie
    assert client.get("/api/session").json()["user"] == "rev1"
    assert client.get("/api/alerts").status_code == 200
    logout = client.delete("/api/session", headers={"X-CSRF-Token": login.json()["csrf"]})
    assert logout.status_code == 204
    client.cookies.set("overt_session", session_cookie.split(";")[0].split("=", 1)[1])
    after = client.get("/api/alerts")
    assert after.status_code == 401 and after.json()["error"]["rule"] == "session"


def test_cameras_health_and_geojson(site: Site) -> None:
    admin = site.auth("admin")
    camera = {
        "id": "gate-1",
        "name": "Gate",
        "source": "rtsp://u:p@10.0.0.1/s",
        "lat": 51.5,
        "lon": -0.12,
        "direction": 90,
        "mount": "pole",
        "type": "dome",
        "zone": "transport",
        "public_notice": "FR in use",
    }
    assert site.client.post("/api/cameras", json=camera, headers=admin).status_code == 201
    assert site.client.post("/api/cameras", json=camera, headers=admin).json()["error"]["rule"] == "camera-exists"
    listed = {c["id"]: c for c in site.client.get("/api/cameras", headers=site.auth("rev1")).json()}
    assert listed["gate-1"]["health"] is None and listed["gate-1"]["type"] == "dome"

    health = {"state": "running", "fps_out": 9.5, "lag_s": 0.2, "drops": 1, "faces_seen": 12, "last_error": None}
    site.overt.cameras.health_source = lambda: {"gate-1": health}
    try:
        shown = site.client.get("/api/cameras/gate-1", headers=site.auth("op")).json()
        assert shown["health"] == health
    finally:
        site.overt.cameras.health_source = None

    updated = site.client.put("/api/cameras/gate-1", json={**camera, "name": "North gate"}, headers=site.auth("op"))
    assert updated.json()["name"] == "North gate"
    geojson = site.client.get("/api/public/cameras.geojson")
    assert geojson.headers["content-type"] == "application/geo+json"
    (feature,) = [f for f in geojson.json()["features"] if f["properties"]["ref"] == "gate-1"]
    assert feature["properties"]["man_made"] == "surveillance" and feature["properties"]["camera:type"] == "dome"
    assert "rtsp://" not in geojson.text and "rtsp://" not in site.client.get("/api/public/cameras").text

    imported = dict(geojson.json())
    imported["features"] = [{**feature, "properties": {**feature["properties"], "ref": "gate-2"}}]
    assert site.client.post("/api/cameras/import", json=imported, headers=admin).json() == {"imported": 1}
    assert site.client.post("/api/cameras/import", json={"type": "nope"}, headers=admin).status_code == 403
    assert site.client.delete("/api/cameras/gate-2", headers=admin).json() == {"removed": "gate-2"}
    assert site.client.get("/api/cameras/gate-2", headers=admin).status_code == 404


def test_public_report_and_moderation(site: Site) -> None:
    sent = site.client.post(
        "/api/public/camera-reports",
        data={"lat": "51.51", "lon": "-0.13", "note": "dome on the bank"},
        files={"photo": ("cam.jpg", jpeg_bytes(exif_gps=True), "image/jpeg")},
    )
    assert sent.status_code == 201, sent.text
    report_id = sent.json()["id"]
    plain = site.client.post("/api/public/camera-reports", data={"lat": "1", "lon": "2"}).json()["id"]

    assert site.client.get("/api/moderation/reports", headers=site.auth("op")).status_code == 403
    pending = {r["id"]: r for r in site.client.get("/api/moderation/reports", headers=site.auth("dpo")).json()}
    assert pending[report_id]["has_photo"] and not pending[plain]["has_photo"]
    photo = site.client.get(f"/api/moderation/reports/{report_id}/photo", headers=site.auth("dpo"))
    stored = Image.open(io.BytesIO(photo.content))
    assert stored.format == "JPEG" and not stored.getexif()  # location and device data are gone

    accepted = site.client.post(
        f"/api/moderation/reports/{report_id}/accept",
        json={"id": "reported-bank", "name": "Bank dome"},
        headers=site.auth("admin"),
    )
    assert accepted.json()["status"] == "accepted"
    public = {c["id"]: c for c in site.client.get("/api/public/cameras").json()}
    assert (public["reported-bank"]["lat"], public["reported-bank"]["lon"]) == (51.51, -0.13)
    again = site.client.post(f"/api/moderation/reports/{report_id}/reject", headers=site.auth("dpo"))
    assert again.json()["error"]["rule"] == "moderated"
    assert site.client.get(f"/api/moderation/reports/{report_id}/photo", headers=site.auth("dpo")).status_code == 404
    assert site.client.post(f"/api/moderation/reports/{plain}/reject", headers=site.auth("dpo")).json()["status"] == (
        "rejected"
    )


def test_watchlists_users_audit_retention_models(site: Site) -> None:
    created = site.client.post(
        "/api/watchlists", json={"name": "temporary", "purpose": "test"}, headers=site.auth("op")
    )
    assert created.status_code == 201
    names = [w["name"] for w in site.client.get("/api/watchlists", headers=site.auth("aud")).json()]
    assert "temporary" in names
    assert site.client.get("/api/watchlists/temporary", headers=site.auth("dpo")).json()["subjects"] == []
    assert site.client.delete("/api/watchlists/temporary?reason=done", headers=site.auth("op")).json()["subjects"] == 0

    made = site.client.post("/api/users", json={"name": "newcomer", "role": "auditor"}, headers=site.auth("admin"))
    token = made.json()["token"]
    assert site.client.get("/api/session", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "auditor"
    assert "newcomer" in [u["name"] for u in site.client.get("/api/users", headers=site.auth("admin")).json()]

    verified = site.client.get("/api/audit/verify", headers=site.auth("aud")).json()
    assert verified["ok"] and verified["records"] > 10, verified
    records = site.client.get("/api/audit/records?limit=5", headers=site.auth("aud")).json()
    assert [r["action"] for r in records][0] == "audit.verify" and len(records) == 5
    assert records[0]["seq"] > records[-1]["seq"]
    exported = site.client.get("/api/audit/export", headers=site.auth("dpo"))
    lines = exported.text.splitlines()
    assert len(lines) == int(exported.headers["x-audit-records"]) and json.loads(lines[0])["seq"] == 1

    assert set(site.client.post("/api/retention/run", headers=site.auth("dpo")).json()) >= {"alerts", "evidence"}
    assert site.client.get("/api/models", headers=site.auth("rev1")).json()["embedder"]
    assert site.client.get("/api/health").json() == {"ok": True}


def test_rate_limit_on_public_routes(tmp_path: Path) -> None:
    limited = make_site(
        tmp_path / "home", ApiSettings(public_rate=0.001, public_burst=3, login_rate=0.001, login_burst=2)
    )
    codes = [limited.client.get("/api/public/cameras").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = limited.client.get("/api/public/deployments")
    assert refused.json()["error"]["rule"] == "rate-limit" and int(refused.headers["retry-after"]) >= 1
    logins = [limited.client.post("/api/session", json={"token": "guess"}).status_code for _ in range(3)]
    assert logins == [401, 401, 429]
    assert limited.client.get("/api/alerts", headers=limited.auth("op")).status_code == 200  # logged-in: unlimited
    limited.overt.db.dispose()


def test_live_alerts_arrive_as_server_sent_events(site: Site) -> None:
    deployment_id = site.approved(name="Live", mode="live")
    live_subject = subject_id(site, enrol(site, deployment_id, "person-live", "043_neutral.jpg"))
    events: list[tuple[str, dict]] = []
    ready = threading.Event()

    def listen(base: str) -> None:
        with httpx.stream("GET", f"{base}/api/alerts/stream", headers=site.auth("op"), timeout=20) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "ready":
                        ready.set()
                    if kind == "update":
                        return

    with running(site.app) as base:
        assert httpx.get(f"{base}/api/alerts/stream", headers=site.auth("admin")).status_code == 403
        thread = threading.Thread(target=listen, args=(base,), daemon=True)
        thread.start()
        assert ready.wait(10)
        alert_id = raise_live_alert(site.overt, deployment_id, live_subject, "person-live")
        deadline = time.monotonic() + 10
        while not any(k == "alert" for k, _ in events) and time.monotonic() < deadline:
            time.sleep(0.05)
        site.overt.alerts.review(Actor("rev1", "reviewer"), alert_id, "reject", "")
        thread.join(10)
    kinds = [k for k, _ in events]
    assert kinds == ["ready", "alert", "update"], kinds
    (_, alert), (_, update) = events[1], events[2]
    assert alert["id"] == alert_id and alert["camera"] == "cam-1"
    assert update["id"] == alert_id and update["reviews"] == 1 and update["decisions"] is None


def test_background_services_start_and_stop_with_the_server(site: Site) -> None:
    calls: list[str] = []

    class Service:
        def start(self) -> None:
            calls.append("start")

        def stop(self) -> None:
            calls.append("stop")

    app = create_app(site.overt, ApiSettings(), background=[Service()])
    with TestClient(app) as client:
        assert calls == ["start"] and client.get("/api/health").status_code == 200
    assert calls == ["start", "stop"] and app.state.closing.is_set()


def test_demo_seed_is_marked_and_complete(tmp_path: Path) -> None:
    overt = Overt(Settings(home=tmp_path / "demo"))
    demo = seed_demo(overt)
    assert set(demo.tokens) == {"admin", *USERS} and {r for r, _ in demo.tokens.values()} >= {"reviewer", "dpo"}
    app = create_app(overt, ApiSettings(demo=True))
    client = TestClient(app)
    assert client.get("/api/public/info").json()["demo"] is True
    records = client.get("/api/public/deployments").json()
    assert len(records) == 2 and all(r["name"].startswith("DEMO") and r["status"] == "approved" for r in records)
    assert all(r["watchlist_size"] == len(SUBJECTS) for r in records)
    reviewer = {"Authorization": f"Bearer {demo.tokens['reviewer-1'][1]}"}
    (alert,) = client.get("/api/alerts", headers=reviewer).json()
    assert alert["status"] == "pending" and alert["subject"] is None  # blind until the reviewer decides
    dpo = {"Authorization": f"Bearer {demo.tokens['dpo'][1]}"}
    assert client.get("/api/alerts", headers=dpo).json()[0]["subject"] == "demo-person-042"
    overt.db.dispose()


def test_serve_refuses_an_uninitialised_home(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "nothing"), "serve", "--port", "1"])
    assert isinstance(result.exception, NotInitialised)  # before any port is opened, with the `overt init` hint
