"""The HTML pages: the public transparency site, the operators' console and the API docs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ...web import PAGES
from .common import PUBLIC, needs

router = APIRouter(include_in_schema=False)


def page(name: str) -> FileResponse:
    return FileResponse(PAGES / name, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get("/", openapi_extra=needs(PUBLIC))
def transparency() -> FileResponse:
    return page("public.html")


@router.get("/console", openapi_extra=needs(PUBLIC))
def console() -> FileResponse:
    return page("console.html")


@router.get("/docs", openapi_extra=needs(PUBLIC))
def docs() -> FileResponse:
    """Swagger UI, vendored, started by a script file (the CSP allows no inline script)."""
    return page("docs.html")
