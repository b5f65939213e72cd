"""Helpers shared by the routers: what a route needs (documented in OpenAPI), images, the engine lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

PUBLIC = "public"  # anyone, rate-limited
AUTHENTICATED = "authenticated"  # any user; nothing biometric behind it


def needs(permission: str, body: str = "body", **extra: Any) -> dict[str, Any]:
    """OpenAPI extensions read by the app and the tests: `x-permission` is the service action the route
    performs (the service layer checks it), `x-body-limit` names the size limit for its request body."""
    return {"x-permission": permission, "x-body-limit": body, **extra}


def jpeg(data: bytes) -> Response:
    """Biometric images: never cached, never sniffed, shown inline only."""
    return Response(
        data,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store, private", "Content-Disposition": "inline"},
    )


JPEG_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "a JPEG"}}


async def with_engine(request: Request, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Engine work runs in a worker thread, one at a time: the face engine's models are shared and
    not documented thread-safe, and two cores gain nothing from contending for them."""
    lock = request.app.state.engine_lock

    def locked() -> T:
        with lock:
            return call(*args, **kwargs)

    return await run_in_threadpool(locked)
