"""The console and the public site in Debian's chromium, against a real server on a loopback port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from overt.api import ApiSettings
from overt.api.server import running
from overt.services import Actor
from overt.storage.models import Review
from tests.test_api import FACES, Site, jpeg_bytes, make_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
LOADED = "sel => { const i = document.querySelector(sel); return Boolean(i && i.complete && i.naturalWidth > 0); }"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]


@dataclass
class Served:
    site: Site
    base: str
    deployment: int
    browser: Any
    console_errors: list[str]

    def page(self, path: str = "/") -> Any:
        context = self.browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.goto(self.base + path)
        return page

    def console(self, user: str) -> Any:
        page = self.page("/console")
        page.fill("input[name=token]", self.site.tokens[user])
        page.click("button:has-text('Log in')")
        page.wait_for_selector("#whoami:not([hidden])")
        return page


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    settings = ApiSettings(sse_poll_seconds=0.2, public_burst=10_000, report_burst=100, login_burst=100)
    site = make_site(tmp_path_factory.mktemp("browser") / "home", settings)
    op = site.auth("op")
    site.client.post("/api/watchlists", json={"name": "missing", "categories": ["missing-person"]}, headers=op)
    site.client.post("/api/cameras", json={"id": "cam-1", "name": "Station", "lat": 51.5, "lon": -0.12}, headers=op)
    deployment = site.approved(name="Browser test")
    enrolled = site.client.post(
        f"/api/deployments/{deployment}/watchlists/missing/subjects",
        data={"reference": "person-042", "category": "missing-person"},
        files=[("images", ("a.jpg", (FACES / "042_neutral.jpg").read_bytes(), "image/jpeg"))],
        headers=op,
    )
    assert enrolled.status_code == 201, enrolled.text
    with running(site.app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield Served(site, base, deployment, browser, [])
        finally:
            browser.close()
    site.overt.db.dispose()


def public_count(page: Any, deployment: int, key: str) -> int:
    page.wait_for_selector("body[data-ready=true]")
    return int(page.text_content(f'[data-deployment="{deployment}"] [data-count="{key}"]'))


def test_live_alert_is_reviewed_by_two_people_and_counted_publicly(served: Served) -> None:
    public = served.page("/")
    assert public_count(public, served.deployment, "confirmed_matches") == 0

    operator = served.console("op")
    operator.wait_for_selector("body[data-alerts-ready=true]")
    operator.wait_for_selector("#live.on")
    found = served.site.overt.gallery.identify(
        Actor("op", "operator"), served.deployment, FACES / "042_smiling.jpg", ["missing"], case="C-browser"
    )
    (alert_id,) = found["alerts"]
    card = f'article.alert[data-alert-id="{alert_id}"]'
    operator.wait_for_selector(f"{card}.new[data-status=pending]")  # arrived live, no reload
    assert "waiting for review" in operator.text_content(card)
    assert "person-042" not in operator.content()  # blind: no identity on the operator's page before confirmation

    first = served.console("rev1")
    first.wait_for_selector(card)
    assert "person-042" not in first.content() and "C-browser" not in first.content()  # nor before the decision
    first.click(f"{card} button.compare")
    for image in ("Searched face", "Watchlist reference photo"):
        first.wait_for_function(LOADED, arg=f"{card} img[alt='{image}']")
    assert "A candidate is not an identification" in first.text_content(f"{card} .evidence")
    first.click(f"{card} button:has-text('Confirm match')")
    first.wait_for_selector(f"{card} .reviews:has-text('you decided: confirm')")
    assert "person-042" in first.text_content(card)  # shown after their own decision
    assert first.get_attribute(card, "data-status") == "pending"

    second = served.console("rev2")
    second.wait_for_selector(card)
    assert "1 of 2 reviews" in second.text_content(f"{card} .reviews")
    assert second.query_selector(f"{card} .decisions") is None  # blind: rev1's decision is not shown
    second.click(f"{card} button:has-text('Confirm match')")
    second.wait_for_selector(f"{card}[data-status=confirmed] .decisions li >> nth=1", state="attached")
    assert second.is_hidden(card)  # final: it leaves the pending queue

    operator.wait_for_selector(f"{card}[data-status=confirmed]", state="attached")  # the update arrived live too
    assert "person-042" in operator.text_content(card)  # confirmed: now the operator may know who
    operator.select_option("#alert-filter", "confirmed")
    operator.fill(f"{card} input[name=outcome]", "found safe")
    operator.click(f"{card} button:has-text('Record outcome')")
    operator.wait_for_selector(f"{card} .reviews:has-text('outcome: found safe')")

    public.reload()
    assert public_count(public, served.deployment, "confirmed_matches") == 1
    assert public_count(public, served.deployment, "outcomes") == 1
    assert "person-042" not in public.content()
    assert not [e for e in served.console_errors if "Content Security Policy" in e]


def test_public_camera_report_reaches_the_moderation_queue(served: Served, tmp_path: Path) -> None:
    photo = tmp_path / "camera.jpg"
    photo.write_bytes(jpeg_bytes((320, 240)))
    public = served.page("/")
    public.wait_for_selector("body[data-ready=true]")
    public.click("#map", position={"x": 200, "y": 150})
    assert public.input_value("input[name=lat]") and public.input_value("input[name=lon]")
    public.fill("textarea[name=note]", "black dome above the station entrance")
    public.set_input_files("input[name=photo]", str(photo))
    public.click("button:has-text('Send report')")
    public.wait_for_selector("#report-status:has-text('Thank you')")
    report_id = re.search(r"report (\d+)", public.text_content("#report-status")).group(1)

    admin = served.console("admin")
    admin.click("#to-reports")
    report = f'article.report[data-report="{report_id}"]'
    admin.wait_for_selector(report)
    assert "black dome" in admin.text_content(report)
    admin.wait_for_function(LOADED, arg=f"{report} img")
    admin.fill(f"{report} input[name=camera-id]", "reported-in-browser")
    admin.fill(f"{report} input[name=camera-name]", "Station dome")
    admin.click(f"{report} button:has-text('Accept')")
    admin.wait_for_selector(report, state="detached")

    public.reload()
    public.wait_for_selector('tr[data-camera="reported-in-browser"]')
    assert "Station dome" in public.text_content('tr[data-camera="reported-in-browser"]')
    assert not [e for e in served.console_errors if "Content Security Policy" in e]


def test_the_reviewers_queue_is_blind_one_at_a_time_and_decided_from_the_keyboard(served: Served) -> None:
    found = served.site.overt.gallery.identify(
        Actor("op", "operator"), served.deployment, FACES / "042_smiling.jpg", ["missing"], case="C-queue"
    )
    (alert_id,) = found["alerts"]
    reviewer = served.console("rev2")
    reviewer.click("#to-review")
    reviewer.wait_for_selector("body[data-queue-ready=true]")
    card = f'#queue-item article[data-alert-id="{alert_id}"]'
    reviewer.wait_for_selector(card)
    assert int(reviewer.get_attribute("#queue-status", "data-length")) >= 1
    assert "waiting for your decision" in reviewer.text_content("#queue-status")
    for image in ("Searched face", "Watchlist reference photo"):
        reviewer.wait_for_function(LOADED, arg=f"{card} img[alt='{image}']")
    assert "false-match rate" in reviewer.text_content(f"{card} .limitations")
    listed = f'article.alert[data-alert-id="{alert_id}"]'  # the same alert in the Alerts tab
    reviewer.wait_for_selector(listed, state="attached")
    for where in ("#tab-review", listed):  # blind before deciding, wherever the alert shows
        assert "person-042" not in reviewer.inner_html(where) and "C-queue" not in reviewer.inner_html(where)
    reviewer.select_option(f"{card} select[name=reason]", "faces match in detail")
    reviewer.click(f"{card} h3")  # focus out of the form: the keys decide
    reviewer.keyboard.press("n")
    reviewer.wait_for_selector(f"{card} .identity:has-text('person-042')")
    assert "You decided: reject" in reviewer.text_content(f"{card} .identity")
    with served.site.overt.db.session() as session:
        (review,) = session.scalars(select(Review).where(Review.alert_id == alert_id))
    assert (review.reviewer, review.decision, review.note) == ("rev2", "reject", "faces match in detail")
    assert not [e for e in served.console_errors if "Content Security Policy" in e]


def test_the_person_on_duty_pauses_from_the_console(served: Served) -> None:
    operator = served.console("op")
    operator.click("#to-stop")
    row = f'article.stop[data-deployment="{served.deployment}"]'
    operator.wait_for_selector(row)
    operator.fill(f"{row} input[name=reason]", "stop now")
    operator.click(f"{row} button.pause-all")
    operator.wait_for_selector(f"{row} li.paused:has-text('stop now')")
    with pytest.raises(Exception, match="paused"):
        served.site.overt.gallery.identify(Actor("op", "operator"), served.deployment, FACES / "042_smiling.jpg",
                                           ["missing"], case="C-stop")
    operator.click(f"{row} button.resume")
    operator.wait_for_selector(f"{row} li.paused", state="detached")
    assert not [e for e in served.console_errors if "Content Security Policy" in e]
