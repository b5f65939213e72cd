"""Data-subject requests (the DPO's, under `subject-request`) and complaints (anyone files; the DPO answers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..auth import ActorDep, OvertDep
from .common import JPEG_RESPONSE, PUBLIC, jpeg, needs, with_engine

router = APIRouter(prefix="/api", tags=["rights"])

REQUEST = "subject-request"
COMPLAINTS = "complaint.manage"
Text = Annotated[str, Form(max_length=4000)]


class Extension(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)
    months: int = Field(1, ge=1, le=2)


class Decision(BaseModel):
    decision: Literal["grant", "refuse"]
    reason: str = Field(min_length=1, max_length=4000)
    ground: str = Field("", max_length=4000, description="The legal ground of a refusal (required to refuse).")


class Note(BaseModel):
    note: str = Field("", max_length=4000)


class Erasure(BaseModel):
    reason: str = Field("", max_length=4000)


class Triage(BaseModel):
    priority: Literal["low", "normal", "urgent"] = "normal"
    note: str = Field("", max_length=4000)
    deployment: int | None = None


class Answer(BaseModel):
    outcome: Literal["upheld", "partly-upheld", "not-upheld", "referred"]
    answer: str = Field(min_length=1, max_length=4000)


# --- data-subject requests ------------------------------------------------------------------------------


@router.post("/requests/access", status_code=status.HTTP_201_CREATED, openapi_extra=needs(REQUEST, body="upload"))
async def open_access(
    request: Request,
    actor: ActorDep,
    overt: OvertDep,
    photo: Annotated[UploadFile, File(description="The requester's photo, to search for their face.")],
    requester: Annotated[str, Form(min_length=1, max_length=4000)],
    channel: Annotated[str, Form(max_length=64)] = "",
    identity_ref: Text = "",
) -> dict[str, Any]:
    """Register an access request and search every watchlist and the evidence within retention (no alert)."""
    data = await photo.read()
    return await with_engine(
        request, overt.rights.access, actor, data, requester=requester, channel=channel, identity_ref=identity_ref
    )


@router.post("/requests", status_code=status.HTTP_201_CREATED, openapi_extra=needs(REQUEST, body="upload"))
async def open_request(
    request: Request,
    actor: ActorDep,
    overt: OvertDep,
    kind: Annotated[Literal["access", "erasure", "rectification", "objection"], Form()],
    requester: Annotated[str, Form(min_length=1, max_length=4000)],
    channel: Annotated[str, Form(max_length=64)] = "",
    identity_ref: Text = "",
    details: Text = "",
    photo: Annotated[UploadFile | None, File(description="The photo (access and erasure need one).")] = None,
) -> dict[str, Any]:
    """Register a request of any kind; with a photo, what Overt holds about the face is found at once."""
    data = await photo.read() if photo is not None else None
    return await with_engine(
        request,
        overt.rights.open,
        actor,
        kind,
        requester=requester,
        channel=channel,
        identity_ref=identity_ref,
        details=details,
        photo=data or None,
    )


@router.get("/requests", openapi_extra=needs(REQUEST))
def list_requests(
    actor: ActorDep,
    overt: OvertDep,
    status: Annotated[Literal["open", "decided", "closed", "pending"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Requests, newest first, with their deadlines (`overdue` when past it and not closed)."""
    return overt.rights.list(actor, status)


@router.get("/requests/{request_id}", openapi_extra=needs(REQUEST))
def show_request(request_id: int, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    return overt.rights.show(actor, request_id)


@router.post("/requests/{request_id}/search", openapi_extra=needs(REQUEST))
async def search_again(request_id: int, request: Request, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Search again with the stored template (watchlists and evidence change while a request is open)."""
    return await with_engine(request, overt.rights.search_again, actor, request_id)


@router.post("/requests/{request_id}/extend", openapi_extra=needs(REQUEST))
def extend_request(request_id: int, body: Extension, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Extend the deadline (at most two months beyond the first), with a reason the letter gives."""
    return overt.rights.extend(actor, request_id, body.reason, body.months)


@router.post("/requests/{request_id}/decide", openapi_extra=needs(REQUEST))
def decide_request(request_id: int, body: Decision, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Grant or refuse; a refusal names its legal ground. Erasures are granted by running them."""
    return overt.rights.decide(actor, request_id, body.decision, body.reason, body.ground)


@router.post("/requests/{request_id}/erase", openapi_extra=needs(REQUEST))
async def erase_request(
    request_id: int, body: Erasure, request: Request, actor: ActorDep, overt: OvertDep
) -> dict[str, Any]:
    """Delete the subject's watchlist entries, templates, photos, alerts and evidence; the log keeps ids."""
    return await with_engine(request, overt.rights.erase, actor, request_id, body.reason)


@router.post("/requests/{request_id}/close", openapi_extra=needs(REQUEST))
def close_request(request_id: int, body: Note, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Close; the requester's photo and template are deleted in the same transaction."""
    return overt.rights.close(actor, request_id, body.note)


@router.get(
    "/requests/{request_id}/letter",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
    openapi_extra=needs(REQUEST),
)
def request_letter(
    request_id: int,
    actor: ActorDep,
    overt: OvertDep,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
) -> Response:
    """The response letter (what was found or done; refusals with their legal ground), as HTML or PDF."""
    data = overt.rights.letter(actor, request_id, format)
    media = "application/pdf" if format == "pdf" else "text/html; charset=utf-8"
    name = f"request-{request_id}-letter.{format}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- complaints -----------------------------------------------------------------------------------------


@router.post("/public/complaints", status_code=status.HTTP_201_CREATED, openapi_extra=needs(PUBLIC, body="report"))
async def complain(
    request: Request,
    overt: OvertDep,
    what: Annotated[str, Form(min_length=1, max_length=4000, description="What happened.")],
    place: Annotated[str, Form(max_length=4000, description="Where.")] = "",
    when: Annotated[str, Form(max_length=64, description="When.")] = "",
    contact: Annotated[str, Form(max_length=4000, description="How to answer you (optional).")] = "",
    attachment: Annotated[UploadFile | None, File(description="An optional image; its metadata is removed.")] = None,
) -> dict[str, Any]:
    """File a complaint (no login); the DPO triages and answers it."""
    data = await attachment.read() if attachment is not None else b""
    limit = request.app.state.settings.max_report_bytes
    complaint_id = await run_in_threadpool(
        overt.complaints.submit, what, place=place, when=when, contact=contact, attachment=data or None, max_bytes=limit
    )
    return {"id": complaint_id, "status": "received"}


@router.get("/complaints", openapi_extra=needs(COMPLAINTS))
def list_complaints(
    actor: ActorDep,
    overt: OvertDep,
    status: Annotated[Literal["received", "triaged", "answered", "pending"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    return overt.complaints.list(actor, status)


@router.get("/complaints/{complaint_id}", openapi_extra=needs(COMPLAINTS))
def show_complaint(complaint_id: int, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    return overt.complaints.show(actor, complaint_id)


@router.get(
    "/complaints/{complaint_id}/attachment",
    response_class=Response,
    responses=JPEG_RESPONSE,
    openapi_extra=needs(COMPLAINTS),
)
def complaint_attachment(complaint_id: int, actor: ActorDep, overt: OvertDep) -> Response:
    """The attachment, re-encoded without metadata, until the complaint is answered."""
    return jpeg(overt.complaints.attachment(actor, complaint_id))


@router.post("/complaints/{complaint_id}/triage", openapi_extra=needs(COMPLAINTS))
def triage_complaint(complaint_id: int, body: Triage, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    return overt.complaints.triage(actor, complaint_id, body.priority, body.note, body.deployment)


@router.post("/complaints/{complaint_id}/answer", openapi_extra=needs(COMPLAINTS))
def answer_complaint(complaint_id: int, body: Answer, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Answer with an outcome; the attachment is deleted."""
    return overt.complaints.answer(actor, complaint_id, body.outcome, body.answer)
