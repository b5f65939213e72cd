"""The live alert stream on PostgreSQL with two writers, where the alert with the lower id commits after
the one with the higher id: the stream holds the later one back until the earlier commits, then
delivers both, each exactly once (overt/storage/commit_order.py). Real writers through the service
layer; the only thing the test controls is when the first writer's transaction goes on."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from overt.api.routes.alerts import cursor_text, parse_cursor
from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from overt.storage.models import Alert, Subject
from tests.governance_helpers import actor, approved, make_overt
from tests.test_api import FACES, raise_live_alert

OP = actor("op")


def delivered(overt, cursor: list) -> tuple[list[int], list]:
    """One poll of the feed, as the stream makes it: the new alerts' ids and the cursor to go on from."""
    feed = overt.alerts.feed(OP, tuple(cursor[0]), tuple(cursor[1]))
    return [a["id"] for a in feed["alerts"]], feed["cursor"]


@pytest.mark.postgres
def test_an_alert_committed_after_a_later_id_was_streamed_is_delivered_once(tmp_path: Path, postgres_url: str) -> None:
    overt = make_overt(tmp_path / "home", postgres_url)
    for camera in ("cam-1", "cam-2"):
        overt.cameras.add(actor("admin"), CameraInfo(camera, f"rtsp://{camera}.example/", camera))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live", cameras=["cam-1", "cam-2"])
    overt.gallery.enroll(OP, deployment, "missing", EnrolRequest("p042", (FACES / "042_neutral.jpg",),
                                                                 "missing-person"))
    with overt.db.session() as session:
        subject = session.scalars(select(Subject)).one().id
    cursor = overt.alerts.feed(OP, None)["cursor"]  # a console that opened its stream before either alert

    flushed, go_on, first = threading.Event(), threading.Event(), {}

    def hold_the_first_writer(session, _context) -> None:
        """After writer A's alert has its id (inserted, not committed), A waits: B raises and commits."""
        alerts = [o for o in session.new if isinstance(o, Alert)]
        if threading.current_thread().name == "writer-a" and alerts and not flushed.is_set():
            first["id"] = alerts[0].id
            flushed.set()
            assert go_on.wait(60)

    overt.db.listen("after_flush", hold_the_first_writer)
    writer_a = threading.Thread(target=lambda: first.update(done=raise_live_alert(overt, deployment, subject, "p042",
                                                                                   camera="cam-1")),
                                name="writer-a")
    writer_a.start()
    try:
        assert flushed.wait(60)
        second = raise_live_alert(overt, deployment, subject, "p042", camera="cam-2")  # writer B, committed
        assert second > first["id"]
        seen, cursor = delivered(overt, cursor)
        assert seen == []  # B's alert is held back while A's (a lower id) may still commit
    finally:
        go_on.set()
        writer_a.join(60)
    assert first["done"] == first["id"]

    deadline = time.monotonic() + 30
    while len(seen) < 2:
        assert time.monotonic() < deadline, seen
        more, cursor = delivered(overt, cursor)
        seen += more
    more, cursor = delivered(overt, cursor)
    assert Counter(seen + more) == {first["id"]: 1, second: 1}  # both, each once
    text = cursor_text(tuple(cursor[0]), tuple(cursor[1]))
    assert ":" in text and parse_cursor(text) == (tuple(cursor[0]), tuple(cursor[1]))  # resumable as an event id
    overt.db.dispose()
