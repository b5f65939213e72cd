"""Console sessions: exchange an API token for an HttpOnly cookie (and a CSRF token), and end it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, Security
from pydantic import BaseModel, Field

from ...services.core import allowed_actions
from ..auth import CSRF_COOKIE, SESSION_COOKIE, ActorDep, OvertDep, get_sessions, session_cookie
from ..throttle import authenticate
from .common import AUTHENTICATED, PUBLIC, needs

router = APIRouter(prefix="/api/session", tags=["session"])


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=256, description="Your Overt API token.")


def _secure(request: Request) -> bool:
    return request.app.state.settings.secure_cookies or request.url.scheme == "https"


@router.post("", openapi_extra=needs(PUBLIC))
def login(
    body: Login,
    request: Request,
    response: Response,
    overt: OvertDep,
    old: Annotated[str | None, Security(session_cookie)] = None,
) -> dict[str, Any]:
    """Log in to the console: a fresh session cookie (HttpOnly, SameSite=Strict) and its CSRF token."""
    actor = authenticate(request, body.token)
    sessions = get_sessions(request)
    if old:
        sessions.close(old)
    session_id, session = sessions.open(body.token)
    max_age = int(sessions.ttl)
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, session_id, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE, session.csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure, path="/"
    )
    return {
        "user": actor.name,
        "role": actor.role,
        "may": allowed_actions(actor),
        "csrf": session.csrf,
        "demo": request.app.state.settings.demo,
    }


@router.get("", openapi_extra=needs(AUTHENTICATED))
def whoami(
    actor: ActorDep, request: Request, session_id: Annotated[str | None, Security(session_cookie)] = None
) -> dict[str, Any]:
    """Who you are, your role and the actions it may attempt (the console shows only those)."""
    session = get_sessions(request).get(session_id) if session_id else None
    return {
        "user": actor.name,
        "role": actor.role,
        "may": allowed_actions(actor),
        "csrf": session.csrf if session else None,
        "demo": request.app.state.settings.demo,
    }


@router.delete("", status_code=204, openapi_extra=needs(AUTHENTICATED))
def logout(
    _: ActorDep,
    request: Request,
    response: Response,
    session_id: Annotated[str | None, Security(session_cookie)] = None,
) -> None:
    """End the console session (with the CSRF header, like every cookie-authenticated write)."""
    if session_id:
        get_sessions(request).close(session_id)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict", secure=_secure(request))
