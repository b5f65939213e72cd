"""Two `overt serve` processes on one PostgreSQL database, as behind a reverse proxy: a console session,
its CSRF token and the rate limits hold across both, and the live alert stream delivers each alert once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from overt.services.gallery import EnrolRequest
from overt.storage.models import ConsoleSession, Subject
from tests.governance_helpers import ROLES, actor, approved, make_overt
from tests.test_api import raise_live_alert

FACES = Path(__file__).parent / "data" / "faces"
ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def installation(tmp_path: Path, postgres_url: str):
    overt = make_overt(tmp_path / "home", postgres_url)
    tokens = {name: overt.system.add_user(actor("admin"), f"{name}-2", role) for name, role in ROLES.items()}
    for name, role in ROLES.items():
        if role in ("authority", "operator", "reviewer", "dpo"):  # a second person grants each (#13)
            overt.system.approve_user(actor("dpo"), f"{name}-2")
    yield overt, tokens
    overt.db.dispose()


@pytest.fixture
def servers(installation) -> Iterator[list[str]]:
    """Two API processes (real uvicorn servers on their own loopback ports) on the same database."""
    overt, _ = installation
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OVERT_HOME": str(overt.settings.home),
           "OVERT_DATABASE_URL": overt.settings.db_url, "OVERT_LOGIN_BURST": "3", "OVERT_SSE_POLL_SECONDS": "0.3"}
    ports = [free_port(), free_port()]
    processes = [subprocess.Popen([sys.executable, "-m", "overt", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, process in zip(bases, processes, strict=True):
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, f"overt serve exited with {process.returncode}"
                try:
                    if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.postgres
def test_a_console_session_and_its_csrf_token_work_on_every_api_process(installation, servers) -> None:
    overt, tokens = installation
    a, b = servers
    login = httpx.post(f"{a}/api/session", json={"token": tokens["rev1"]})
    assert login.status_code == 200
    cookies, csrf = dict(login.cookies), login.json()["csrf"]
    assert httpx.get(f"{b}/api/session", cookies=cookies).json()["user"] == "rev1-2"
    with overt.db.session() as session:  # an insider reading the table finds nothing to log in with
        row = session.scalars(select(ConsoleSession)).one()
        assert cookies["overt_session"] not in row.id_hash and tokens["rev1"].encode() not in row.sealed
    refused = httpx.delete(f"{b}/api/session", cookies=cookies)
    assert refused.status_code == 403 and refused.json()["error"]["rule"] == "csrf"
    assert httpx.delete(f"{b}/api/session", cookies=cookies, headers={"X-CSRF-Token": csrf}).status_code == 204
    after = httpx.get(f"{a}/api/session", cookies=cookies)
    assert after.status_code == 401 and after.json()["error"]["rule"] == "session"  # logged out everywhere


@pytest.mark.postgres
def test_rate_limits_are_shared_by_the_api_processes(servers) -> None:
    a, b = servers
    codes = [httpx.post(f"{base}/api/session", json={"token": "ovt_guess"}).status_code for base in (a, b, a, b)]
    assert codes == [401, 401, 401, 429]  # a burst of 3 for the client, whichever process it reaches


def read_alerts(base: str, headers: dict[str, str], last_event_id: str | None, want: int) -> list[tuple[str, dict]]:
    """Alert events from one stream until `want` arrived (or a deadline), with each event's id."""
    got: list[tuple[str, dict]] = []
    sent = {**headers, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    deadline = time.monotonic() + 20
    with httpx.stream("GET", f"{base}/api/alerts/stream", headers=sent, timeout=5) as response:
        event_id, kind = "", ""
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "alert":
                got.append((event_id, json.loads(line[6:])))
            if len(got) >= want or time.monotonic() > deadline:
                break
    return got


@pytest.mark.postgres
def test_the_live_alert_stream_delivers_each_alert_once_across_processes(installation, servers) -> None:
    overt, tokens = installation
    a, b = servers
    deployment = approved(overt, mode="live")
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    overt.gallery.enroll(actor("op"), deployment, "missing",
                         EnrolRequest("p042", (FACES / "042_neutral.jpg",), "missing-person"))
    with overt.db.session() as session:
        subject = session.scalars(select(Subject)).one().id
    # the applicant, assigned to the deployment by applying (#13), reads its alerts
    op = {"Authorization": f"Bearer {overt.system.reset_token(actor('admin'), 'op')}"}
    first = raise_live_alert(overt, deployment, subject, "p042")
    seen = read_alerts(a, op, "0.0", want=1)
    assert [e["id"] for _, e in seen] == [first]
    second = raise_live_alert(overt, deployment, subject, "p042")
    resumed = read_alerts(b, op, seen[-1][0], want=1)  # the browser reconnects to the other process
    assert [e["id"] for _, e in resumed] == [second]  # not the first again: alerts come in id order
