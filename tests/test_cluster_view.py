"""The cluster view when not in cluster mode: one machine, said plainly, over the API, the CLI and the
console; read like the cameras' health (any signed-in role, never the public). The cluster mode's view
(machines, a dead one, a camera's restarts) is tested on a real Ray cluster in tests/test_cluster.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from overt.api import ApiSettings
from overt.services.background import camera_supervisor
from overt.services.cluster_view import LOCAL_NOTE, NO_SUPERVISOR_NOTE
from tests.test_api import make_site
from tests.test_browser import served  # noqa: F401  (the fixture: a real server and chromium)

ROOT = Path(__file__).parent.parent


def cluster_status(home: Path, token: str, *args: str, env: dict[str, str] | None = None,
                   columns: int = 80) -> subprocess.CompletedProcess:
    """`overt cluster status ARGS` in its own process, as a script or a person at an 80-column terminal."""
    environment = {**os.environ, "OVERT_HOME": str(home), "OVERT_TOKEN": token, "COLUMNS": str(columns),
                   "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("OVERT_USER", None)
    result = subprocess.run([sys.executable, "-m", "overt", "cluster", "status", *args], capture_output=True,
                            text=True, env=environment, timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_the_api_says_plainly_that_this_is_one_machine_and_shows_its_supervisors_cameras(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", ApiSettings())
    view = site.client.get("/api/cluster", headers=site.auth("op"))
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["mode"] == "local" and body["note"] == NO_SUPERVISOR_NOTE and body["cameras"] == []
    [machine] = body["machines"]
    assert machine["id"] == socket.gethostname() and machine["alive"] and machine["cpus"] == os.cpu_count()

    camera_supervisor(site.overt)  # what `overt serve` runs: the view is now its cameras (none wanted yet)
    assert site.client.get("/api/cluster", headers=site.auth("op")).json()["note"] == LOCAL_NOTE

    assert site.client.get("/api/cluster").status_code == 401  # the public sees no machines
    schema = site.client.get("/openapi.json").json()
    route = schema["paths"]["/api/cluster"]["get"]
    assert route["x-permission"] == "camera.read"
    assert {"mode", "machines", "cameras"} <= set(schema["components"]["schemas"]["ClusterStatus"]["properties"])
    site.overt.db.dispose()


def test_the_cli_prints_the_view_in_80_columns_and_as_json(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", ApiSettings())
    token = site.tokens["op"]
    table = cluster_status(site.overt.settings.home, token)
    assert table.returncode == 0, table.stderr
    assert "not in cluster mode" in table.stdout and "no cameras running" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    as_json = json.loads(cluster_status(site.overt.settings.home, token, "--json").stdout)
    assert as_json["mode"] == "local" and as_json["machines"][0]["id"] == socket.gethostname()
    refused = cluster_status(site.overt.settings.home, "ovt_not-a-token", "--json")
    assert refused.returncode == 5 and refused.stderr.count("\n") == 1 and not refused.stdout
    site.overt.db.dispose()


@pytest.mark.browser
def test_the_console_has_a_cluster_tab_that_says_it_is_one_machine(served) -> None:  # noqa: F811
    page = served.console("op")
    page.click("#to-cluster")
    page.wait_for_selector("#tab-cluster[data-mode=local]")
    assert "not in cluster mode" in page.text_content("#cluster-mode")
    assert page.locator("#cluster-machines tr[data-alive=true]").count() == 1
    assert "No camera running." in page.text_content("#cluster-cameras")
    assert not [e for e in served.console_errors if "Content Security Policy" in e]
