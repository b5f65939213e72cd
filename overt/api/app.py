"""The FastAPI application: routers over the service layer, and the guards every request passes.

    from overt.api import create_app
    app = create_app(Overt(), background=[supervisor, retention_job])

Background services (the stream supervisor, the retention job) are objects with `start()` and `stop()`,
started with the server and stopped, in reverse order, when it stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartParser
from starlette.routing import Match
from starlette.types import Scope

from ..cluster.state import DatabaseBuckets, DatabaseSessions
from ..services import Overt
from ..web import STATIC
from . import errors
from .auth import CSRF_HEADER, Sessions
from .middleware import BodyLimit, Guard, RateLimit, TokenBuckets
from .routes import (
    admin,
    alerts,
    audit_view,
    cameras,
    deployments,
    desk,
    gallery,
    pages,
    public,
    public_pages,
    review,
    rights,
    session,
    transparency,
)
from .routes import cluster as cluster_routes
from .routes import observatory as observatory_routes
from .settings import ApiSettings
from .throttle import FailedTokens

log = logging.getLogger("overt.api")

DESCRIPTION = f"""
Accountable facial recognition over HTTP: every route calls the same service layer as the `overt`
command line, so the same roles, gate and audit apply.

**Authentication.** Scripts send `Authorization: Bearer <token>` (tokens come from `overt user add`
or `POST /api/users`). The console logs in with `POST /api/session`, which sets an HttpOnly,
SameSite=Strict session cookie; cookie-authenticated requests that change anything must also send
the session's CSRF token in `{CSRF_HEADER}` (it is in the login response and the `overt_csrf` cookie).

**Errors** are JSON: `{{"error": {{"rule": ..., "message": ...}}}}`. A refusal by the rules is 403 and
names its rule; 401 a missing or bad token; 404 unknown; 413 too large; 422 invalid; 429 rate-limited.

`x-permission` on each operation names the action the service layer checks (overt/governance/permissions.py
says which roles may); `public` routes need no login and are rate-limited per client address.
"""


class Background(Protocol):
    """A service that runs while the server runs (the stream supervisor, the retention job)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def add_background(app: FastAPI, service: Background) -> None:
    """Register a service to start with the server (before the first request) and stop with it."""
    app.state.background.append(service)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.closing.clear()
    started: list[Background] = []
    try:
        for service in app.state.background:
            await run_in_threadpool(service.start)
            started.append(service)
        yield
    finally:
        app.state.closing.set()  # live alert streams end within a poll interval
        for service in reversed(started):
            try:
                await run_in_threadpool(service.stop)
            except Exception:
                log.exception("stopping %r failed", service)


def security_headers(settings: ApiSettings) -> Callable[[str], list[tuple[bytes, bytes]]]:
    """No inline script, no framing, no referrer, no sniffing; API answers are never cached."""
    tiles = f" {settings.tile_origin()}" if settings.tile_origin() else ""
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'; font-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    common = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
    ]
    api = [*common, (b"cache-control", b"no-store")]
    return lambda path: api if path.startswith("/api/") else common


ROUTERS = (
    session.router,
    admin.router,
    deployments.router,
    gallery.router,
    alerts.router,
    cameras.router,
    public.router,
    public.moderation,
    rights.router,
    audit_view.router,
    desk.router,
    public_pages.router,
    transparency.router,
    pages.router,
    observatory_routes.router,
    observatory_routes.pages,
    review.router,
    cluster_routes.router,
)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route of ours, with its declared `x-permission` and `x-body-limit` (FastAPI may wrap included
    routers in app.routes; their own route lists are stable)."""
    return [route for router in app.state.routers for route in router.routes if isinstance(route, APIRoute)]


def body_limits(app: FastAPI, settings: ApiSettings) -> Callable[[Scope], int]:
    """Each route's body limit, by the `x-body-limit` it declares (bodies are JSON unless it says otherwise)."""
    limits = {
        "body": settings.max_body_bytes,
        "upload": settings.max_upload_bytes,
        "report": settings.max_report_bytes,
        "geojson": settings.max_geojson_bytes,
    }

    def limit_for(scope: Scope) -> int:
        for route in api_routes(app):
            if route.matches(scope)[0] == Match.FULL:
                return limits[(route.openapi_extra or {}).get("x-body-limit", "body")]
        return limits["body"]

    return limit_for


def rate_classes(method: str, path: str) -> str | None:
    """The bucket a request draws from: logins, public reports, other public routes, or none."""
    if path == "/api/session" and method == "POST":
        return "login"
    if path in ("/api/public/camera-reports", "/api/public/complaints") and method == "POST":
        return "report"
    if path.startswith("/api/public/") or path in ("/", "/api/health", "/observatory"):
        return "public"
    return None


def create_app(overt: Overt, settings: ApiSettings | None = None, background: Iterable[Background] = ()) -> FastAPI:
    """The HTTP API, the console and the public site over one installation's services."""
    settings = settings or ApiSettings()
    try:
        app_version = version("overt")
    except PackageNotFoundError:
        app_version = "unknown"
    app = FastAPI(
        title="Overt",
        version=app_version,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.overt = overt
    app.state.settings = settings
    shared = settings.shared_state if settings.shared_state is not None else not overt.db.is_sqlite
    app.state.sessions = (DatabaseSessions(overt.db, settings.session_hours * 3600, settings.max_sessions) if shared
                          else Sessions(settings.session_hours * 3600, settings.max_sessions))
    app.state.failed_tokens = FailedTokens(settings.token_failure_rate, settings.token_failure_burst)
    app.state.engine_lock = threading.Lock()
    app.state.closing = threading.Event()
    app.state.streams = 0
    app.state.background = list(background)

    app.state.routers = ROUTERS
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # Uploads are faces: keep them in memory up to the upload limit, never in a temporary file on disk.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_upload_bytes + 1)

    rates = {
        "public": (settings.public_rate, settings.public_burst),
        "report": (settings.report_rate, settings.report_burst),
        "login": (settings.login_rate, settings.login_burst),
    }
    buckets = {kind: DatabaseBuckets(overt.db, kind, *rate) if shared else TokenBuckets(*rate)
               for kind, rate in rates.items()}
    app.add_middleware(BodyLimit, limit_for=body_limits(app, settings))
    app.add_middleware(RateLimit, buckets=buckets, classify=rate_classes)
    app.add_middleware(Guard, headers=security_headers(settings))
    return app
