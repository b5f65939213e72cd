"""Every failure as JSON `{"error": {"rule", "message"}}`: refusals name their rule, nothing leaks a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..engine import EngineError, ImageError, ImageTooLargeError, NoFaceError
from ..gallery.crypto import EncryptionKeyError
from ..gallery.store import GalleryError
from ..governance.spec import SpecError
from ..services import NotInitialised, Refused

log = logging.getLogger("overt.api")

UNAUTHENTICATED = frozenset({"token", "session"})
NOT_FOUND = frozenset({"not-public"})  # an unpublished deployment is, to the public, no deployment
HTTP_RULES = {
    400: "bad-request",
    401: "token",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "media-type",
    422: "validation",
    429: "rate-limit",
    503: "unavailable",
}


def error_body(rule: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"rule": rule, "message": message, **extra}}


def error_response(status: int, rule: str, message: str, headers: dict[str, str] | None = None, **extra: Any):
    return JSONResponse(error_body(rule, message, **extra), status_code=status, headers=headers)


def refused_status(rule: str) -> int:
    """Refused is 403, except the unknown (404) and the unauthenticated (401): one place decides."""
    if rule in UNAUTHENTICATED:
        return 401
    if rule in NOT_FOUND or rule.startswith(("unknown-", "no-")):
        return 404
    return 403


def gallery_status(message: str) -> int:
    """GalleryError carries no code: a missing watchlist or subject is 404, a duplicate 409, the rest 422."""
    if message.startswith(("no watchlist", "no subject")):
        return 404
    return 409 if "already" in message else 422


async def on_refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    status = refused_status(exc.rule)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, exc.rule, exc.message, headers)


async def on_validation(_: Request, exc: Exception) -> JSONResponse:
    """Field and message only: pydantic's `input` would echo what was sent (an upload, a token) back."""
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
    summary = "; ".join(
        f"{'.'.join(p['loc'][1:]) or p['loc'][0] if p['loc'] else 'request'}: {p['msg']}" for p in problems
    )
    return error_response(422, "validation", summary or "invalid request", problems=problems)


async def on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    rule = getattr(exc, "rule", None) or HTTP_RULES.get(exc.status_code, "http")
    return error_response(exc.status_code, rule, str(exc.detail), dict(exc.headers or {}) or None)


async def on_domain(_: Request, exc: Exception) -> JSONResponse:
    """Bad input found by the engine, the gallery or the spec parser: the caller's to fix."""
    if isinstance(exc, ImageTooLargeError):
        return error_response(413, "too-large", str(exc))
    if isinstance(exc, NoFaceError):
        return error_response(422, "no-face", str(exc))
    if isinstance(exc, ImageError):
        return error_response(422, "image", str(exc))
    if isinstance(exc, EngineError):
        return error_response(422, "engine", str(exc))
    if isinstance(exc, GalleryError):
        return error_response(gallery_status(str(exc)), "gallery", str(exc))
    return error_response(422, "spec", str(exc))


async def on_not_initialised(_: Request, exc: Exception) -> JSONResponse:
    return error_response(503, "not-initialised", str(exc))


async def on_key_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("encryption key problem: %s", exc)
    return error_response(500, "key", "the installation's encryption key is unavailable; see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    for error in (EngineError, GalleryError, SpecError):
        app.add_exception_handler(error, on_domain)
    app.add_exception_handler(NotInitialised, on_not_initialised)
    app.add_exception_handler(EncryptionKeyError, on_key_error)


class TooLarge(HTTPException):
    """Raised while a body is read; FastAPI re-raises HTTPExceptions from body parsing, so it stays a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")
        self.rule = "too-large"
