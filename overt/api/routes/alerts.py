"""Candidate alerts: the list, live updates (server-sent events), blind review, outcomes, evidence."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...services import Actor, Overt
from ..auth import ActorDep, OvertDep
from ..errors import error_body
from .common import JPEG_RESPONSE, jpeg, needs

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

HEARTBEAT_SECONDS = 15.0
AFTER = "Cursor `<alert>.<review>`, each `<id>` or `<transaction>:<id>` as in the events' ids; default: from now."
Position = tuple[int, int]  # (writer's transaction id, row id): overt/storage/commit_order.py
Cursor = tuple[Position | None, Position]


class Decision(BaseModel):
    decision: Literal["confirm", "reject", "inconclusive"]
    note: str = Field("", max_length=2000)


class Outcome(BaseModel):
    outcome: str = Field(min_length=1, max_length=2000, description="What was done after the confirmed alert.")
    kind: Literal["arrest", "charge", "no-further-action", "released", "other"] = Field(
        "other", description="Counted by kind in the public record."
    )


def _position(text: str) -> Position | None:
    """`<id>` (SQLite, and cursors from before the commit order) or `<transaction>:<id>` (PostgreSQL)."""
    xid, _, row = text.rpartition(":")
    if row.isdigit() and (xid.isdigit() or not xid):
        return int(xid or 0), int(row)
    return None


def position_text(position: Position) -> str:
    return f"{position[0]}:{position[1]}" if position[0] else str(position[1])


def parse_cursor(text: str | None) -> Cursor:
    """`"<alert>.<review>"` as sent in each event's id (EventSource returns it as Last-Event-ID); each part
    is a position in commit order, `<id>` or `<transaction>:<id>`."""
    alert, _, review = (text or "").partition(".")
    return _position(alert), _position(review) or (0, 0)


def cursor_text(alert: Position, review: Position) -> str:
    return f"{position_text(alert)}.{position_text(review)}"


def event(kind: str, data: Any, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def alert_events(request: Request, overt: Overt, actor: Actor,
                       cursor: tuple[Position, Position]) -> AsyncIterator[str]:
    """Poll the service for changes each second, until the stream's maximum age or the server stops.

    `alert` events carry new alerts, `update` events alerts whose reviews moved (counts and status only:
    review stays blind), a comment line keeps proxies from closing an idle stream.
    """
    state = request.app.state
    settings = state.settings
    state.streams += 1
    try:
        alert_cursor, review_cursor = cursor
        start = cursor_text(alert_cursor, review_cursor)  # as an id too: a reconnect resumes here, not "from now"
        yield "retry: 3000\n\n" + event("ready", {"cursor": start}, start)
        started = last_beat = time.monotonic()
        while time.monotonic() - started < settings.sse_max_seconds and not state.closing.is_set():
            feed = await run_in_threadpool(overt.alerts.feed, actor, alert_cursor, review_cursor)
            chunks = [event("alert", a, cursor_text(tuple(at), review_cursor))
                      for a, at in zip(feed["alerts"], feed["positions"], strict=True)]
            alert_cursor, review_cursor = (tuple(at) for at in feed["cursor"])
            chunks += [event("update", a, cursor_text(alert_cursor, review_cursor)) for a in feed["updated"]]
            if not chunks and time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                chunks.append(": keep-alive\n\n")
            if chunks:
                last_beat = time.monotonic()
                yield "".join(chunks)
            await anyio.sleep(settings.sse_poll_seconds)
    finally:
        state.streams -= 1


@router.get("", openapi_extra=needs("alert.read"))
def list_alerts(
    actor: ActorDep,
    overt: OvertDep,
    status: Annotated[Literal["pending", "confirmed", "rejected", "inconclusive"] | None, Query()] = None,
    deployment: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    before: Annotated[int | None, Query(description="Cursor: alerts older than this id (the next page).")] = None,
) -> list[dict[str, Any]]:
    """Newest first. Until an alert is final, nobody sees another reviewer's decision (blind review)."""
    return overt.alerts.list(actor, status=status, deployment_id=deployment, limit=limit, before=before)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
    openapi_extra=needs("alert.read"),
)
async def stream(
    request: Request,
    actor: ActorDep,
    overt: OvertDep,
    after: Annotated[str | None, Query(description=AFTER)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Alerts as they are raised and reviewed, as server-sent events (`alert`, `update`); reconnects resume."""
    state = request.app.state
    asked = parse_cursor(last_event_id or after)
    now = await run_in_threadpool(overt.alerts.feed, actor, None)  # a refusal is a plain 403, not a broken stream
    cursor = (asked[0], asked[1]) if asked[0] is not None else tuple(tuple(at) for at in now["cursor"])
    if state.streams >= state.settings.sse_max_streams:
        return Response(
            json.dumps(error_body("busy", "too many live streams open; retry shortly")),
            status_code=503,
            media_type="application/json",
            headers={"Retry-After": "5"},
        )
    return StreamingResponse(
        alert_events(request, overt, actor, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", openapi_extra=needs("alert.read"))
def show_alert(alert_id: int, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """One alert, as blind as the list."""
    return overt.alerts.show(actor, alert_id)


@router.post("/{alert_id}/review", openapi_extra=needs("alert.review"))
def review(alert_id: int, body: Decision, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Decide once, blind; the alert is final when the deployment's required reviewers have decided."""
    return overt.alerts.review(actor, alert_id, body.decision, body.note)


@router.post("/{alert_id}/outcome", openapi_extra=needs("alert.outcome"))
def outcome(alert_id: int, body: Outcome, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Record what followed a confirmed alert (only confirmed alerts lead to action)."""
    overt.alerts.record_outcome(actor, alert_id, body.outcome, kind=body.kind)
    return {"id": alert_id, "outcome": body.outcome, "kind": body.kind}


@router.get(
    "/{alert_id}/evidence/{kind}",
    response_class=Response,
    responses=JPEG_RESPONSE,
    openapi_extra=needs("evidence.read"),
)
def evidence(alert_id: int, kind: Literal["crop", "thumbnail"], actor: ActorDep, overt: OvertDep) -> Response:
    """The camera's (or probe's) face crop or frame thumbnail; every view is audited."""
    return jpeg(overt.alerts.evidence(actor, alert_id, kind))


@router.get(
    "/{alert_id}/reference",
    response_class=Response,
    responses=JPEG_RESPONSE,
    openapi_extra=needs("evidence.read"),
)
def reference(alert_id: int, actor: ActorDep, overt: OvertDep) -> Response:
    """The matched subject's watchlist photo, to compare with the crop; every view is audited."""
    return jpeg(overt.alerts.reference_image(actor, alert_id))
