"""The DPO's desk and the public's rights in Debian's chromium, against a real server on a loopback port:
an access request answered end to end, a complaint from the public site to its answer, and the audit log
filtered across pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from overt.services import Actor
from overt.storage.models import RequestPhoto
from tests.test_api import FACES, jpeg_bytes
from tests.test_browser import CHROMIUM, LOADED, Served, served  # noqa: F401 (the shared fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]


def script_errors(served: Served) -> list[str]:  # noqa: F811
    """Errors of the pages' own scripts or of the CSP (a 401 before logging in is the console asking)."""
    return [e for e in served.console_errors if not e.startswith("Failed to load resource")]


def test_the_dpo_answers_an_access_request_end_to_end(served: Served) -> None:  # noqa: F811
    op = Actor("op", "operator")
    served.site.overt.gallery.identify(op, served.deployment, FACES / "042_smiling.jpg", ["missing"], case="C-dpo")
    dpo = served.console("dpo")
    dpo.click("#to-requests")
    dpo.wait_for_selector("#request-list[data-ready]")
    dpo.click("#new-request summary")
    dpo.select_option("#request-form select[name=kind]", "access")
    dpo.fill("#request-form input[name=requester]", "Jane Roe, 1 High Street")
    dpo.fill("#request-form input[name=channel]", "post")
    dpo.fill("#request-form input[name=identity_ref]", "passport checked at the counter, ref ID-9")
    dpo.set_input_files("#request-form input[name=photo]", str(FACES / "042_neutral.jpg"))
    dpo.click("#request-form button[type=submit]")
    card = "article.request[data-status=open]"
    dpo.wait_for_selector(f"{card} td:has-text('person-042')")  # on the watchlist, found by the search
    assert "C-dpo" not in dpo.text_content(card)  # case references are not the requester's business
    assert dpo.query_selector(f"{card} tr:has-text('missing')") is not None
    request_id = dpo.get_attribute(card, "data-request")
    with dpo.expect_download() as pdf:
        dpo.click(f"{card} a.letter-pdf")
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")
    dpo.fill(f"{card} input[name=note]", "answered by post")
    dpo.click(f"{card} button:has-text('Close and answer')")
    dpo.wait_for_selector("#flash:has-text('photo and template are deleted')")
    dpo.select_option("select[name=request-status]", "closed")
    dpo.wait_for_selector(f"article.request[data-request='{request_id}'][data-status=closed][data-outcome=answered]")
    with served.site.overt.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RequestPhoto)) == 0
    reviewer = served.console("rev1")
    assert reviewer.query_selector("#to-requests") is None  # other roles have no such tab
    assert not script_errors(served)


def test_a_complaint_from_the_public_site_to_its_answer(served: Served, tmp_path: Path) -> None:  # noqa: F811
    public = served.page("/rights")
    public.fill("#complaint-form textarea[name=what]", "A camera by the station filmed the queue for the food bank")
    public.fill("#complaint-form input[name=place]", "Station N, east entrance")
    public.fill("#complaint-form input[name=when]", "Monday 09:30")
    photo = tmp_path / "with-gps.jpg"
    photo.write_bytes(jpeg_bytes((240, 180), exif_gps=True))
    public.set_input_files("#complaint-form input[name=attachment]", str(photo))
    public.click("#complaint-form button[type=submit]")
    public.wait_for_selector("#complaint-status:has-text('Thank you')")
    complaint_id = public.get_attribute("#complaint-status", "data-complaint")
    dpo = served.console("dpo")
    dpo.click("#to-complaints")
    card = f"article.complaint[data-complaint='{complaint_id}']"
    dpo.wait_for_selector(card)
    assert "food bank" in dpo.text_content(f"{card} .what")
    dpo.wait_for_function(LOADED, arg=f"{card} img")
    dpo.select_option(f"{card} select[name=priority]", "urgent")
    dpo.click(f"{card} button:has-text('Triage')")
    dpo.wait_for_selector(f"{card}[data-status=triaged]")
    dpo.select_option(f"{card} select[name=outcome]", "partly-upheld")
    dpo.fill(f"{card} textarea[name=answer]", "The camera's notice was missing; it is up now.")
    dpo.click(f"{card} button:has-text('Answer')")
    dpo.wait_for_selector(card, state="detached")  # no longer waiting
    dpo.select_option("select[name=complaint-status]", "answered")
    dpo.wait_for_selector(f"{card}[data-status=answered]:has-text('notice was missing')")
    assert dpo.query_selector(f"{card} img") is None  # the attachment went with the answer
    assert not script_errors(served)


def test_audit_filtering_across_pages(served: Served) -> None:  # noqa: F811
    auditor = Actor("aud", "auditor")
    for _ in range(60):  # sixty refusals by the auditor among everything else
        with pytest.raises(Exception, match="role"):
            served.site.overt.complaints.list(auditor)
    page = served.console("dpo")
    page.click("#to-audit")
    page.wait_for_selector("#chain[data-ok=true]")
    page.wait_for_selector("#audit-table tr[data-seq]")
    page.fill("#audit-filters input[name=actor]", "aud")
    page.select_option("#audit-filters select[name=outcome]", "refused")
    page.select_option("#audit-filters select[name=limit]", "25")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_selector("#audit-position:has-text('records 1–25 of 60')")
    seen: list[str] = []
    for expected in ("records 1–25 of 60", "records 26–50 of 60", "records 51–60 of 60"):
        page.wait_for_selector(f"#audit-position:has-text('{expected}')")
        rows = page.query_selector_all("#audit-table tr[data-seq]")
        seen += [r.get_attribute("data-seq") or "" for r in rows]
        assert all("aud" in (r.text_content() or "") and "refused" in (r.text_content() or "") for r in rows)
        if expected != "records 51–60 of 60":
            page.click("#audit-older")
    assert len(seen) == len(set(seen)) == 60
    assert page.is_disabled("#audit-older")
    first = page.query_selector("#audit-table tr[data-seq] dl.details")
    assert first is not None and "operation" in (first.text_content() or "")  # details as labelled fields
    page.click("#audit-newer")
    page.wait_for_selector("#audit-position:has-text('records 26–50 of 60')")
    with page.expect_download() as exported:
        page.click("#audit-export")
    lines = Path(exported.value.path()).read_text().splitlines()
    assert len(lines) == 60
    assert not script_errors(served)


def test_public_map_works_offline_and_records_read_as_pages(served: Served) -> None:  # noqa: F811
    public = served.page("/")
    public.wait_for_selector("body[data-ready=true]")
    public.wait_for_selector("#map[data-basemap]")
    assert int(public.get_attribute("#map", "data-basemap") or 0) > 150  # countries drawn, no tile server
    assert public.query_selector("#map path.leaflet-interactive, #map svg path") is not None
    public.click(f'[data-deployment="{served.deployment}"] a.record')
    public.wait_for_selector(f'article.deployment[data-deployment="{served.deployment}"]')
    text = public.text_content("body") or ""
    legal_basis = served.site.overt.deployments.public_records(served.deployment)[0]["legal_basis"]
    assert "Legal basis" in text and legal_basis in text
    assert re.search(r"[0-9a-f]{64}", text), text  # the assessments' hashes
    assert "SELECT" not in text
    public.click("a:has-text('Your rights')")
    public.wait_for_selector("#complaint-form")
    assert not script_errors(served)


def test_reports_retention_users_and_watchlists_from_the_console(served: Served, tmp_path: Path) -> None:  # noqa: F811
    dpo = served.console("dpo")
    dpo.click("#to-accountability")
    dpo.select_option("#report-generate select[name=kind]", "accountability")
    dpo.select_option("#report-generate select[name=format]", "json")
    with dpo.expect_download() as report:
        dpo.click("#report-generate button[type=submit]")
    saved = tmp_path / "report.json"
    saved.write_bytes(Path(report.value.path()).read_bytes())
    dpo.set_input_files("#report-verify input[name=file]", str(saved))
    dpo.click("#report-verify button[type=submit]")
    dpo.wait_for_selector("#report-verdict[data-ok=true]")
    dpo.click("#to-retention")
    dpo.click("#retention-preview")
    dpo.wait_for_selector("#retention-result[data-step=preview]")
    dpo.click("#retention-run")
    dpo.wait_for_selector("#retention-result[data-step=run]")
    dpo.click("#to-watchlists")
    dpo.wait_for_selector('tr[data-watchlist="missing"] td.size:has-text("1")')
    assert dpo.query_selector("#to-users") is None  # users are the administrator's
    admin = served.console("admin")
    admin.click("#to-users")
    admin.fill("#user-form input[name=name]", "newdpo")
    admin.select_option("#user-form select[name=role]", "auditor")  # a role that needs no countersignature
    admin.click("#user-form button[type=submit]")
    admin.wait_for_selector("#token-once:not([hidden]) code")
    token = admin.text_content("#token-once code") or ""
    assert token and served.site.client.get("/api/session", headers={"Authorization": f"Bearer {token}"}).is_success
    admin.fill('tr[data-user="newdpo"] input[name=reason]', "left the post")
    admin.click('tr[data-user="newdpo"] button:has-text("Disable")')
    admin.wait_for_selector('tr[data-user="newdpo"]:has-text("disabled")')
    assert served.site.client.get("/api/session", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert not script_errors(served)


def test_the_dpo_countersigns_a_role_grant_from_the_console(served: Served) -> None:  # noqa: F811
    """The admin adds a reviewer, who cannot act until the DPO countersigns the grant in the console."""
    made = served.site.client.post("/api/users", json={"name": "rev9", "role": "reviewer"},
                                   headers=served.site.auth("admin"))
    assert made.json()["status"] == "pending"
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    assert served.site.client.get("/api/review/queue", headers=token).status_code == 403
    dpo = served.console("dpo")
    dpo.click("#to-grants")
    dpo.click('tr[data-pending="rev9"] button:has-text("Countersign")')
    dpo.wait_for_selector('tr[data-pending="rev9"]', state="detached")
    assert served.site.client.get("/api/review/queue", headers=token).status_code == 200
    assert not script_errors(served)
