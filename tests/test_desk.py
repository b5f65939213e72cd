"""The console's desk for the DPO and the authority, over HTTP: the audit log filtered and paged over the
whole log, exported as filtered; reports generated, downloaded and verified; retention previewed then run;
users disabled and given new tokens."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from overt.api import ApiSettings
from overt.audit.canonical import canonical_json
from tests.test_api import make_site


def test_audit_filters_and_cursor_pages_cover_the_whole_log_once(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", ApiSettings(report_burst=1000))
    client, dpo = site.client, site.auth("dpo")
    for n in range(130):  # refusals by the auditor, and complaints from the public
        client.get("/api/complaints", headers=site.auth("aud"))
        if n % 2 == 0:
            client.post("/api/public/complaints", data={"what": f"complaint {n}"})
    wanted = {"actor": "aud", "outcome": "refused"}
    seen: list[int] = []
    cursor = None
    pages, total = 0, None
    while True:
        params = {**wanted, "limit": 40, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/audit/search", params=params, headers=dpo).json()
        assert all(r["actor"] == "aud" and r["outcome"] == "refused" for r in page["records"])
        seen += [r["seq"] for r in page["records"]]
        total = page.get("total", total if pages else None)  # counted on the first page only
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and len(seen) == len(set(seen)) == total == 130 and seen == sorted(seen, reverse=True)
    by_action = client.get("/api/audit/search", params={"action": "complaint."}, headers=dpo).json()
    assert by_action["total"] == 65 and {r["action"] for r in by_action["records"]} == {"complaint.receive"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/api/audit/search", params={"since": future}, headers=dpo).json()["total"] == 0
    # the export holds exactly the filtered records, each line's hash still checks offline
    exported = client.get("/api/audit/search/export", params=wanted, headers=dpo)
    lines = exported.text.splitlines()
    assert len(lines) == 130 and exported.headers["X-Audit-SHA256"] == hashlib.sha256(exported.content).hexdigest()
    for line in lines:
        record = json.loads(line)
        digest = record.pop("hash")
        assert hashlib.sha256(canonical_json(record).encode()).hexdigest() == digest
    assert client.get("/api/audit/search", headers=site.auth("op")).status_code == 403


def test_reports_retention_and_users_from_the_console_api(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home")
    client, dpo = site.client, site.auth("dpo")
    pdf = client.get("/api/reports/accountability", params={"format": "pdf"}, headers=dpo)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    today = datetime.now(UTC).date().isoformat()
    annual = client.get("/api/reports/annual", params={"format": "json", "from": today, "to": today}, headers=dpo)
    assert annual.headers["X-Report-SHA256"] == hashlib.sha256(annual.content).hexdigest()
    verdict = client.post("/api/reports/verify", json=annual.json(), headers=dpo).json()
    assert verdict["ok"] is True
    tampered = annual.json()
    for section in tampered["sections"]:
        for item in section["items"]:
            if item["key"] == "complaints":
                item["value"] = 99
    assert client.post("/api/reports/verify", json=tampered, headers=dpo).json()["ok"] is False
    assert client.post("/api/reports/verify", json={"x": 1}, headers=dpo).status_code == 422
    assert client.get("/api/reports/deployment", headers=dpo).status_code == 422
    preview = client.get("/api/retention/preview", headers=dpo).json()
    assert client.post("/api/retention/run", headers=dpo).json() == preview
    admin = site.auth("admin")
    token = client.post("/api/users/rev1/token", headers=admin).json()["token"]
    assert client.get("/api/session", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/session", headers=site.auth("rev1")).status_code == 401  # the old token stopped
    assert client.post("/api/users/rev2/disable", json={"reason": "left"}, headers=admin).status_code == 200
    assert client.get("/api/session", headers=site.auth("rev2")).status_code == 401
    assert client.post("/api/users/rev3/disable", json={"reason": "x"}, headers=dpo).status_code == 403
