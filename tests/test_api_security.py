"""What the API must never do: show biometric data to the public or to a role without the permission,
store oversized or malformed uploads, accept cookie writes without the CSRF token, or omit its headers.

The route table is enumerated from the app itself, so a route added without a sample request here fails.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from overt.api import ApiSettings, create_app
from overt.api.app import api_routes
from overt.governance.permissions import PERMISSIONS
from overt.storage.models import Alert, CameraReport, Subject
from overt.web import PAGES, STATIC
from tests.governance_helpers import spec
from tests.test_api import FACES, Site, jpeg_bytes, make_site

SECRET_REF = "subject-7f3a9c-secret"
SECRET_SOURCE = "rtsp://admin:hunter2-secret@10.0.0.9/live"
CALLERS = ("none", "bad-token", "admin", "judge", "op", "rev1", "aud", "dpo")
ROLE_OF = {"admin": "admin", "judge": "authority", "op": "operator", "rev1": "reviewer", "aud": "auditor", "dpo": "dpo"}

# What each route may disclose, to the roles its permission admits (the status checks enforce the roles).
DISCLOSES: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/alerts"): {"reference"},
    ("GET", "/api/alerts/stream"): {"reference"},
    ("GET", "/api/alerts/{alert_id}"): {"reference"},
    ("POST", "/api/alerts/{alert_id}/review"): {"reference"},
    ("GET", "/api/watchlists/{name}"): {"reference"},
    ("POST", "/api/deployments/{deployment_id}/identify"): {"reference"},
    ("GET", "/api/alerts/{alert_id}/evidence/{kind}"): {"image"},
    ("GET", "/api/alerts/{alert_id}/reference"): {"image"},
    ("GET", "/api/moderation/reports/{report_id}/photo"): {"image"},
    ("GET", "/api/review/queue"): {"reference"},
    ("GET", "/api/sightings/{sighting_id}/crop"): {"image"},
    ("GET", "/api/cameras"): {"source"},
    ("GET", "/api/cameras/{camera_id}"): {"source"},
}


@dataclass
class World:
    site: Site
    deployment: int  # approved, with the secret subject and an alert
    pending: int  # for decisions, amendment and urgent start
    revocable: int
    alert: int
    reports: dict[str, int]


def count(site: Site, model: Any) -> int:
    with site.overt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = ApiSettings(
        public_burst=100_000, login_burst=100_000, report_burst=100_000, sse_poll_seconds=0.05, sse_max_seconds=0.3
    )
    site = make_site(tmp_path_factory.mktemp("security") / "home", settings)
    client, op = site.client, site.auth("op")
    for camera_id, source in (("cam-1", SECRET_SOURCE), ("throwaway-cam", "")):
        client.post("/api/cameras", json={"id": camera_id, "source": source, "lat": 1, "lon": 2}, headers=op)
    for name in ("missing", "throwaway"):
        client.post("/api/watchlists", json={"name": name, "categories": ["missing-person"]}, headers=op)
    deployment = site.approved(name="Security")
    enrolled = client.post(
        f"/api/deployments/{deployment}/watchlists/missing/subjects",
        data={"reference": SECRET_REF, "category": "missing-person"},
        files=[("images", ("a.jpg", (FACES / "042_neutral.jpg").read_bytes(), "image/jpeg"))],
        headers=op,
    )
    assert enrolled.status_code == 201, enrolled.text
    found = client.post(
        f"/api/deployments/{deployment}/identify",
        data={"watchlist": "missing", "case": "C-1"},
        files={"image": ("p.jpg", (FACES / "042_smiling.jpg").read_bytes(), "image/jpeg")},
        headers=op,
    )
    (alert,) = found.json()["alerts"]
    pending = client.post("/api/deployments", json=yaml.safe_load(spec(name="Pending")), headers=op).json()["id"]
    revocable = site.approved(name="Revocable")
    reports = {}
    for purpose in ("accept", "reject", "photo"):
        sent = client.post(
            "/api/public/camera-reports",
            data={"lat": "10", "lon": "20", "note": purpose},
            files={"photo": ("c.jpg", jpeg_bytes(), "image/jpeg")},
        )
        reports[purpose] = sent.json()["id"]
    yield World(site, deployment, pending, revocable, alert, reports)
    site.overt.db.dispose()


def sample(w: World, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """A valid request for every route: its URL and the body/parameters to send."""
    face = (FACES / "001_neutral.jpg").read_bytes()
    probe = (FACES / "042_smiling.jpg").read_bytes()
    camera = {"id": "enumerated-cam", "name": "x", "lat": 1.0, "lon": 2.0}
    spec_yaml = spec(name="Pending amended")
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/session"): {"json": {"token": w.site.tokens["rev1"]}},
        ("POST", "/api/users"): {"json": {"name": "enumerated", "role": "auditor"}},
        ("POST", "/api/deployments"): {
            "content": spec(name="Enumerated"),
            "headers": {"Content-Type": "application/yaml"},
        },
        ("PUT", "/api/deployments/{deployment_id}"): {
            "content": spec_yaml,
            "headers": {"Content-Type": "application/yaml"},
        },
        ("POST", "/api/deployments/{deployment_id}/approve"): {"json": {"reason": "r"}},
        ("POST", "/api/deployments/{deployment_id}/reject"): {"json": {"reason": "r"}},
        ("POST", "/api/deployments/{deployment_id}/return"): {"json": {"reason": "r"}},
        ("POST", "/api/deployments/{deployment_id}/revoke"): {"json": {"reason": "r"}},
        ("POST", "/api/deployments/{deployment_id}/urgent"): {"json": {"justification": "imminent threat to life"}},
        ("POST", "/api/watchlists"): {"json": {"name": "enumerated"}},
        ("POST", "/api/deployments/{deployment_id}/watchlists/{name}/subjects"): {
            "data": {"reference": "enumerated-subject", "category": "missing-person"},
            "files": [("images", ("f.jpg", face, "image/jpeg"))],
        },
        ("POST", "/api/deployments/{deployment_id}/identify"): {
            "data": {"watchlist": "missing", "case": "C-2"},
            "files": {"image": ("p.jpg", probe, "image/jpeg")},
        },
        ("GET", "/api/alerts/stream"): {"params": {"after": "0.0"}},
        ("POST", "/api/alerts/{alert_id}/review"): {"json": {"decision": "inconclusive"}},
        ("POST", "/api/alerts/{alert_id}/outcome"): {"json": {"outcome": "none"}},
        ("POST", "/api/cameras"): {"json": camera},
        ("PUT", "/api/cameras/{camera_id}"): {"json": {"name": "renamed"}},
        ("POST", "/api/cameras/import"): {"json": {"type": "FeatureCollection", "features": []}},
        ("POST", "/api/public/camera-reports"): {"data": {"lat": "1", "lon": "1"}},
        ("POST", "/api/moderation/reports/{report_id}/accept"): {"json": {"id": "accepted-cam"}},
        ("POST", "/api/deployments/{deployment_id}/pause"): {"json": {"reason": "r"}},
        ("POST", "/api/deployments/{deployment_id}/resume"): {"json": {}},
    }
    writes = method in ("PUT", "DELETE") or path.endswith(
        ("/approve", "/reject", "/return", "/urgent", "/revoke", "/pause", "/resume"))
    params = {
        "deployment_id": w.revocable if path.endswith("/revoke") else w.pending if writes else w.deployment,
        "name": "throwaway" if method == "DELETE" else "missing",
        "reference": "nobody",
        "alert_id": w.alert,
        "sighting_id": 1,
        "kind": "crop",
        "camera_id": "throwaway-cam" if writes else "cam-1",
        "report_id": w.reports["accept" if path.endswith("/accept") else "reject" if writes else "photo"],
    }
    if path.startswith("/api/moderation/") and path.endswith("/reject"):
        params["report_id"] = w.reports["reject"]
    return path.format(**params), bodies.get((method, path), {})


def leaks(body: bytes, secrets: dict[str, list[bytes]]) -> set[str]:
    return {kind for kind, needles in secrets.items() if any(n in body for n in needles)}


def test_every_route_refuses_the_wrong_caller_and_discloses_nothing_biometric(world: World) -> None:
    site = world.site
    secrets = {
        "reference": [SECRET_REF.encode()],
        "image": [b"\xff\xd8\xff", b"/9j/", base64.b64encode(b"\xff\xd8\xff")],
        "source": [b"hunter2-secret"],
        "token": [token.encode() for token in site.tokens.values()],
    }
    routes = sorted(
        (
            (method, route.path, route.openapi_extra["x-permission"])
            for route in api_routes(site.app)
            for method in route.methods - {"HEAD"}
        ),
        key=lambda r: (r[0] == "DELETE", r[1], r[0]),  # deletions last: they remove throwaway targets only
    )
    assert len(routes) >= 50
    seen: dict[tuple[str, str, str], set[str]] = {}
    client = TestClient(site.app)
    for method, path, permission in routes:
        url, kwargs = sample(world, method, path)
        for caller in CALLERS:
            headers = dict(kwargs.get("headers", {}))
            if caller == "bad-token":
                headers["Authorization"] = "Bearer ovt_forged-token"
            elif caller != "none":
                headers.update(site.auth(caller))
            client.cookies.clear()
            response = client.request(method, url, **{**kwargs, "headers": headers})
            where = f"{method} {path} as {caller}: {response.status_code} {response.text[:200]}"
            assert response.status_code < 500, where
            error = (
                response.json().get("error", {})
                if "json" in response.headers.get("content-type", "") and (response.status_code >= 400)
                else {}
            )
            if permission == "public":
                assert response.status_code not in (401, 403), where
            elif caller in ("none", "bad-token"):
                assert response.status_code == 401 and error["rule"] == "token", where
            elif permission == "authenticated" or ROLE_OF[caller] in PERMISSIONS[permission]:
                assert not (response.status_code == 403 and error.get("rule") == "role"), where
            else:
                assert response.status_code == 403 and error["rule"] == "role", where
            found = leaks(response.content, secrets)
            assert "token" not in found, where
            allowed = DISCLOSES.get((method, path), set()) if caller in ROLE_OF else set()
            assert found <= allowed, f"{where} discloses {found - allowed}"
            seen[(method, path, caller)] = found
    # The detector is not blind: the permitted disclosures did happen to the permitted roles.
    assert "image" in seen[("GET", "/api/alerts/{alert_id}/evidence/{kind}", "rev1")]
    assert "image" in seen[("GET", "/api/alerts/{alert_id}/reference", "rev1")]
    assert "reference" in seen[("GET", "/api/alerts/stream", "dpo")]
    # blind in both directions: the operator learns no identity (name or photo) before confirmation
    assert not seen[("GET", "/api/alerts/stream", "op")] and not seen[("GET", "/api/alerts", "op")]
    assert not seen[("GET", "/api/alerts/{alert_id}/reference", "op")]
    assert "reference" in seen[("POST", "/api/deployments/{deployment_id}/identify", "op")]
    # a camera's address (with its credentials) only for those who manage cameras
    for caller, role in ROLE_OF.items():
        managed = role in PERMISSIONS["camera.manage"]
        assert ("source" in seen[("GET", "/api/cameras", caller)]) == managed, caller
    # and evidence stayed readable after the admin's key rotation during the sweep
    assert site.client.get(f"/api/alerts/{world.alert}/evidence/crop", headers=site.auth("rev1")).status_code == 200


def test_public_pages_and_files_carry_no_biometric_data(world: World) -> None:
    client = TestClient(world.site.app)
    urls = [
        "/",
        "/console",
        "/docs",
        "/openapi.json",
        "/api/public/info",
        "/api/public/cameras",
        "/api/public/cameras.geojson",
        "/api/public/deployments",
        f"/api/public/deployments/{world.deployment}",
        f"/api/public/deployments/{world.deployment}/record",
    ]
    urls += [f"/static/{p.relative_to(STATIC).as_posix()}" for p in sorted(STATIC.rglob("*")) if p.is_file()]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content
        assert SECRET_REF.encode() not in body and b"hunter2" not in body, url
        assert b"\xff\xd8\xff" not in body, url
        if not url.startswith("/static/vendor/"):  # Swagger UI's CSS inlines a JPEG debug grid: not a face
            assert b"/9j/" not in body, url
    record = client.get(f"/api/public/deployments/{world.deployment}").json()
    assert record["alerts"] >= 1 and record["watchlist_size"] >= 1
    application = yaml.safe_load(spec(name="Not yet authorised"))
    unpublished = client.post("/api/deployments", json=application, headers=world.site.auth("op")).json()["id"]
    assert client.get(f"/api/public/deployments/{unpublished}").status_code == 404
    assert client.get(f"/api/public/deployments/{unpublished}/record").status_code == 404
    assert unpublished not in [d["id"] for d in client.get("/api/public/deployments").json()]


def multipart(field: str, filename: str, data: bytes, extra: dict[str, str]) -> tuple[bytes, str]:
    boundary = "overt-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in extra.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def bomb_png() -> bytes:
    """48 megapixels in a few kilobytes: the header alone must get it refused."""
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, format="PNG")
    return out.getvalue()


def test_oversized_and_malformed_uploads_store_nothing(world: World) -> None:
    site, op = world.site, world.site.auth("op")
    before = {model: count(site, model) for model in (Subject, CameraReport, Alert)}
    enrol_url = f"/api/deployments/{world.deployment}/watchlists/missing/subjects"
    identify_url = f"/api/deployments/{world.deployment}/identify"
    huge = b"\xff\xd8\xff" + bytes(11 * 1024 * 1024)
    fields = {"reference": "too-big", "category": "missing-person"}

    declared = site.client.post(enrol_url, data=fields, files=[("images", ("h.jpg", huge, "image/jpeg"))], headers=op)
    assert declared.status_code == 413 and declared.json()["error"]["rule"] == "too-large"
    body, content_type = multipart("images", "h.jpg", huge, fields)
    chunked = site.client.post(
        enrol_url,
        content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
        headers={**op, "Content-Type": content_type},
    )
    assert chunked.status_code == 413 and "content-length" not in chunked.request.headers
    photo = site.client.post(
        "/api/public/camera-reports",
        data={"lat": "1", "lon": "1"},
        files={"photo": ("big.jpg", bytes(6 * 1024 * 1024), "image/jpeg")},
    )
    assert photo.status_code == 413
    big_json = site.client.post("/api/watchlists", json={"name": "x", "purpose": "y" * (2 * 1024 * 1024)}, headers=op)
    assert big_json.status_code == 413

    cases = [
        (
            site.client.post(
                enrol_url, data=fields, files=[("images", ("t.jpg", b"not an image", "image/jpeg"))], headers=op
            ),
            422,
            "gallery",
        ),
        (
            site.client.post(
                enrol_url,
                data=fields,
                files=[("images", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(9)],
                headers=op,
            ),
            422,
            "validation",
        ),
        (
            site.client.post(
                enrol_url, data={"category": "x"}, files=[("images", ("a.jpg", b"x", "image/jpeg"))], headers=op
            ),
            422,
            "validation",
        ),
        (
            site.client.post(
                identify_url,
                data={"watchlist": "missing", "case": "C"},
                files={"image": ("t.jpg", b"\x89PNG garbage", "image/png")},
                headers=op,
            ),
            422,
            "image",
        ),
        (
            site.client.post(
                identify_url,
                data={"watchlist": "missing", "case": "C"},
                files={"image": ("b.png", bomb_png(), "image/png")},
                headers=op,
            ),
            413,
            "too-large",
        ),
        (
            site.client.post(
                "/api/public/camera-reports",
                data={"lat": "1", "lon": "1"},
                files={"photo": ("t.jpg", b"GIF89a nonsense", "image/gif")},
            ),
            422,
            "image",
        ),
        (
            site.client.post(
                "/api/public/camera-reports",
                data={"lat": "1", "lon": "1"},
                files={"photo": ("b.png", bomb_png(), "image/png")},
            ),
            413,
            "too-large",
        ),
        (site.client.post("/api/public/camera-reports", data={"lat": "200", "lon": "1"}), 422, "validation"),
        (
            site.client.post("/api/public/camera-reports", data={"lat": "1", "lon": "1", "note": "n" * 3000}),
            422,
            "validation",
        ),
    ]
    for response, status, rule in cases:
        assert (response.status_code, response.json()["error"]["rule"]) == (status, rule), response.text
        assert "input" not in response.text  # validation errors never echo what was sent
    assert {model: count(site, model) for model in before} == before


def test_cookie_sessions_need_the_csrf_token(world: World) -> None:
    site = world.site
    browser = TestClient(site.app)
    login = browser.post("/api/session", json={"token": site.tokens["rev1"]}).json()
    other = TestClient(site.app).post("/api/session", json={"token": site.tokens["rev1"]}).json()
    url = f"/api/alerts/{world.alert}/review"
    decision = {"decision": "confirm"}
    reviews = site.client.get(f"/api/alerts/{world.alert}", headers=site.auth("rev2")).json()["reviews"]

    assert browser.get(f"/api/alerts/{world.alert}").status_code == 200  # reads need no token
    for headers in (
        {},
        {"X-CSRF-Token": "forged"},
        {"X-CSRF-Token": other["csrf"]},
        {"X-CSRF-Token": login["csrf"], "Origin": "https://evil.example"},
    ):
        refused = browser.post(url, json=decision, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["rule"] == "csrf", headers
    assert site.client.get(f"/api/alerts/{world.alert}", headers=site.auth("rev2")).json()["reviews"] == reviews
    assert browser.delete("/api/session").json()["error"]["rule"] == "csrf"  # logging out is a write too
    accepted = browser.post(url, json=decision, headers={"X-CSRF-Token": login["csrf"], "Origin": "http://testserver"})
    assert accepted.status_code in (200, 403) and accepted.json().get("error", {}).get("rule") != "csrf"
    bearer = TestClient(site.app).post(
        "/api/watchlists", json={"name": "bearer-needs-no-csrf"}, headers=site.auth("op")
    )
    assert bearer.status_code == 201


def test_security_headers_everywhere(world: World) -> None:
    client = TestClient(world.site.app)
    for url in (
        "/",
        "/console",
        "/docs",
        "/openapi.json",
        "/static/console.js",
        "/api/public/cameras",
        "/api/nope",
        f"/api/alerts/{world.alert}",
    ):
        headers = client.get(url).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer", url
        assert headers["x-frame-options"] == "DENY", url
        if url.startswith("/api/"):
            assert headers["cache-control"] == "no-store", url
    for page in PAGES.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {page.name}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline handler in {page.name}"
        assert "http://" not in html and "https://" not in html, f"external resource in {page.name}"


def test_tile_server_is_the_only_other_image_origin(tmp_path: Path) -> None:
    settings = ApiSettings(tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    site = make_site(tmp_path / "home", settings)
    csp = site.client.get("/").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://*.tiles.example.org;" in csp and "connect-src 'self'" in csp
    assert site.client.get("/api/public/info").json()["tile_url"] == settings.tile_url
    site.overt.db.dispose()
    assert create_app(site.overt, ApiSettings(tile_url="javascript:alert(1)")).state.settings.tile_origin() == ""
