"""Watchlists, enrolment and 1:N identification. Uploads stay in memory (never unencrypted on disk)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ...services.gallery import EnrolRequest
from ..auth import ActorDep, OvertDep
from .common import needs, with_engine

router = APIRouter(prefix="/api", tags=["watchlists"])


class NewWatchlist(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^/]+$")
    purpose: str = Field("", max_length=2000)
    categories: list[str] = Field(default_factory=list, description="Subject categories it may hold.")
    expires_at: datetime | None = None


async def read_uploads(request: Request, files: list[UploadFile]) -> tuple[bytes, ...]:
    """The uploaded files' bytes (the body limit already bounds them), refusing more than the file limit."""
    limit = request.app.state.settings.max_upload_files
    if len(files) > limit:
        raise RequestValidationError([{"loc": ("body", "images"), "msg": f"at most {limit} images per request"}])
    return tuple([await f.read() for f in files])


@router.get("/watchlists", openapi_extra=needs("watchlist.read"))
def list_watchlists(actor: ActorDep, overt: OvertDep) -> list[dict[str, Any]]:
    """Names, purposes and sizes (not their subjects)."""
    return overt.gallery.list_watchlists(actor)


@router.post("/watchlists", status_code=status.HTTP_201_CREATED, openapi_extra=needs("watchlist.manage"))
def create_watchlist(body: NewWatchlist, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """An empty watchlist; subjects are enrolled under a deployment that names it."""
    watchlist_id = overt.gallery.create_watchlist(
        actor, body.name, purpose=body.purpose, categories=body.categories, expires_at=body.expires_at
    )
    return {"id": watchlist_id, "name": body.name}


@router.get("/watchlists/{name}", openapi_extra=needs("watchlist.read"))
def show_watchlist(name: str, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """A watchlist with its subjects' references and metadata (no images, no templates)."""
    return overt.gallery.show_watchlist(actor, name)


@router.delete("/watchlists/{name}", openapi_extra=needs("watchlist.manage"))
def delete_watchlist(
    name: str, actor: ActorDep, overt: OvertDep, reason: Annotated[str, Query(max_length=2000)] = ""
) -> dict[str, Any]:
    """Delete a watchlist with every subject, template and reference photo on it."""
    return {"deleted": name, "subjects": overt.gallery.delete_watchlist(actor, name, reason)}


@router.delete("/watchlists/{name}/subjects/{reference}", openapi_extra=needs("subject.remove"))
def remove_subject(
    name: str,
    reference: str,
    actor: ActorDep,
    overt: OvertDep,
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> dict[str, Any]:
    """Remove a subject with its templates and reference photo (the DPO may, e.g. after a complaint)."""
    overt.gallery.remove_subject(actor, name, reference, reason)
    return {"removed": reference, "watchlist": name}


@router.post(
    "/deployments/{deployment_id}/watchlists/{name}/subjects",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=needs("subject.enroll", body="upload"),
)
async def enrol(
    deployment_id: int,
    name: str,
    request: Request,
    actor: ActorDep,
    overt: OvertDep,
    reference: Annotated[str, Form(min_length=1, max_length=128, description="The subject's reference.")],
    images: Annotated[list[UploadFile], File(description="One or more photos of the subject (JPEG, PNG, ...).")],
    category: Annotated[str, Form(max_length=64)] = "",
    legal_basis: Annotated[str, Form(max_length=2000)] = "",
    image_source: Annotated[str, Form(max_length=2000)] = "",
    image_date: Annotated[str, Form(max_length=32)] = "",
    face: Annotated[int | None, Form(ge=1, le=50, description="Which face when several (1 = largest).")] = None,
    force: Annotated[str, Form(max_length=2000, description="Enrol a low-quality image anyway, for this reason.")] = "",
    same_as: Annotated[str, Form(max_length=260, description="Existing subject (REF or WATCHLIST/REF): the same "
                                 "person, linked on purpose.")] = "",
) -> dict[str, Any]:
    """Enrol one subject under a deployment; refuses no face, several faces, low quality and duplicates
    (a face matching any enrolled subject: rule duplicate-subject, unless linked with same_as)."""
    data = await read_uploads(request, images)
    enrol_request = EnrolRequest(reference, data, category, legal_basis, image_source, image_date, same_as=same_as)
    return await with_engine(
        request, overt.gallery.enroll, actor, deployment_id, name, enrol_request, force_reason=force, face_index=face
    )


@router.post(
    "/deployments/{deployment_id}/identify",
    tags=["identification"],
    openapi_extra=needs("identify", body="upload"),
)
async def identify(
    deployment_id: int,
    request: Request,
    actor: ActorDep,
    overt: OvertDep,
    image: Annotated[UploadFile, File(description="The probe photo; its largest face is searched.")],
    watchlist: Annotated[list[str], Form(min_length=1, description="Watchlists to search (repeat the field).")],
    case: Annotated[str | None, Form(max_length=128, description="Case reference (retrospective).")] = None,
    top: Annotated[int, Form(ge=1, le=100)] = 5,
    threshold: Annotated[float | None, Form(ge=-1, le=1, description="Stricter than approved, never lower.")] = None,
) -> dict[str, Any]:
    """1:N search: candidates become pending alerts; a candidate is not an identification until reviewed."""
    (data,) = await read_uploads(request, [image])
    return await with_engine(
        request, overt.gallery.identify, actor, deployment_id, data, watchlist, top=top, case=case, threshold=threshold
    )
