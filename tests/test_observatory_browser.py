"""The observatory's public pages in Debian's chromium, against a real server, over a real installation
whose own deployments and citizens' reports flow into the observatory through the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overt.api import ApiSettings
from overt.api.server import running
from overt.observatory import Observatory
from overt.observatory.schema import read_file
from tests.test_api import Site, make_site
from tests.test_browser import ARGS, CHROMIUM, TIMEOUT_MS
from tests.test_observatory_index import overt_cli

DATA = Path(__file__).parent / "data" / "observatory"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]


@dataclass
class Served:
    site: Site
    home: Path
    base: str
    browser: Any
    errors: list[str]

    def page(self, path: str) -> Any:
        context = self.browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(self.base + path)
        page.wait_for_selector("body[data-ready=true]")
        return page


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    home = tmp_path_factory.mktemp("observatory") / "home"
    site = make_site(home, ApiSettings(public_burst=10_000, report_burst=100))
    site.approved(name="Carnival")
    # A citizen reports a camera 8 m from a mapped one at Bern's Bahnhofplatz, another far from any.
    for lat, lon in ((46.9487086, 7.4394889), (46.9420, 7.4600)):
        sent = site.client.post("/api/public/camera-reports", data={"lat": lat, "lon": lon, "note": "dome camera"})
        assert sent.status_code == 201, sent.text
    steps = [
        ("observatory", "index", "import", str(DATA / "deployments.csv")),
        (
            "observatory",
            "index",
            "publish",
            "--prefix",
            "overt-test",
            "--country",
            "United Kingdom",
            "--city",
            "London",
            "--site-url",
            "https://overt.example.org",
        ),
        ("observatory", "cameras", "import", str(DATA / "osm" / "bern.osm.pbf")),
        ("--as", "dpo", "observatory", "cameras", "merge-reports", "--status", "pending", "--json"),
    ]
    for step in steps:
        done = overt_cli(home, *step, token=site.tokens["dpo"] if "--as" in step else None)
        assert done.returncode == 0, (step, done.stderr)
    merged = json.loads(done.stdout)
    assert merged == {"imported": 2, "skipped": 0, "duplicates": 1}
    store = Observatory(home / "observatory.db")
    record = store.get("gb-met-lfr")
    store.sign_off("gb-met-lfr", "bob", record["review"]["sha256"], "checked the Met's page")
    store.close()
    with running(site.app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield Served(site, home, base, browser, [])
        finally:
            browser.close()
    site.overt.db.dispose()


def test_index_table_map_and_aggregates(served: Served) -> None:
    page = served.page("/observatory")
    rows = page.query_selector_all("#obs-table tbody tr")
    ids = {row.get_attribute("data-record") for row in rows}
    expected = {r["id"] for r in read_file("d.csv", (DATA / "deployments.csv").read_text())}
    assert expected | {"overt-test-1"} == ids  # the installation's own deployment, published from its records
    met = '#obs-table tr[data-record="gb-met-lfr"]'
    assert "signed off by bob" in page.text_content(f"{met} [data-field=review]")
    assert "not yet reviewed" in page.text_content('tr[data-record="rs-belgrade-safe-city"] [data-field=review]')
    assert page.text_content('tr[data-record="rs-belgrade-safe-city"] [data-field=technology]') == "live, smart_city"
    assert page.get_attribute('tr[data-record="gb-swp-lfr"] a', "href").startswith("https://www.judiciary.uk/")
    assert page.text_content('#agg-country tr[data-country="United Kingdom"] .count') == "3"
    assert page.text_content('#agg-vendor tr[data-vendor="NEC"] .count') == "2"
    assert len(page.query_selector_all("#obs-map path.leaflet-interactive")) == len(expected)  # all have coordinates

    store = Observatory(served.home / "observatory.db")
    assert page.get_attribute("#obs-head", "data-sha256") == store.head()["sha256"]
    store.close()

    page.check("#reviewed-only")
    page.wait_for_selector("body[data-ready=true]")
    assert [r.get_attribute("data-record") for r in page.query_selector_all("#obs-table tbody tr")] == ["gb-met-lfr"]
    assert served.errors == []


def test_camera_map_shows_osm_and_reports_but_not_pending_duplicates(served: Served) -> None:
    page = served.page("/observatory")
    # 151 OSM nodes and 2 reports; the report 8 m from a mapped camera is pending, so still shown (with its
    # review state) until a moderator decides; nothing is judged a duplicate yet.
    assert page.get_attribute("#cam-summary", "data-cameras") == str(151 + 2)
    assert len(page.query_selector_all("#cam-map path.leaflet-interactive")) == 153
    assert served.errors == []


def test_public_api_is_read_only(served: Served) -> None:
    client = served.site.client
    assert client.get("/api/public/observatory/aggregates").json()["year"][0]["deployments"] >= 1
    assert client.post("/api/public/observatory/deployments", json=[]).status_code == 405
    assert client.get("/api/public/observatory/coverage", params={"cell_km": 0}).status_code == 422
