"""Who is calling: a bearer token (scripts), or a browser session made from one (the console).

Browser sessions live in this process's memory: an HttpOnly, SameSite=Strict cookie names one; each
request re-authenticates its token, so a revoked or disabled user stops at once. A state-changing
request made with the cookie must also carry the session's CSRF token in `X-CSRF-Token` (the same
value the non-HttpOnly `overt_csrf` cookie holds: double submit, checked against the server's copy).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from ..services import Actor, Overt, Refused
from .throttle import authenticate

SESSION_COOKIE = "overt_session"
CSRF_COOKIE = "overt_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="An Overt API token: `Authorization: Bearer ovt_...`.")
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The console's session (POST /api/session); unsafe methods also need the X-CSRF-Token header.",
)


@dataclass
class BrowserSession:
    token: str  # kept server-side only, to re-authenticate every request
    csrf: str
    expires: float  # time.monotonic()


class Sessions:
    """Random session ids → sessions, expiring, bounded in number (the oldest go first)."""

    def __init__(self, ttl_seconds: float, max_sessions: int) -> None:
        self.ttl = ttl_seconds
        self.max_sessions = max_sessions
        self._items: dict[str, BrowserSession] = {}
        self._lock = threading.Lock()

    def open(self, token: str) -> tuple[str, BrowserSession]:
        session_id = secrets.token_urlsafe(32)
        session = BrowserSession(token, secrets.token_urlsafe(32), time.monotonic() + self.ttl)
        with self._lock:
            now = time.monotonic()
            for key in [k for k, s in self._items.items() if s.expires <= now]:
                del self._items[key]
            while len(self._items) >= self.max_sessions:
                del self._items[next(iter(self._items))]
            self._items[session_id] = session
        return session_id, session

    def get(self, session_id: str) -> BrowserSession | None:
        with self._lock:
            session = self._items.get(session_id)
            if session is not None and session.expires <= time.monotonic():
                del self._items[session_id]
                return None
            return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._items.pop(session_id, None)


def get_overt(request: Request) -> Overt:
    return request.app.state.overt


def get_sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def check_csrf(request: Request, session: BrowserSession) -> None:
    """Cookie-authenticated writes need the session's CSRF token in a header, and no foreign Origin."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not secrets.compare_digest(sent.encode(), session.csrf.encode()):
        raise Refused("csrf", f"a cookie session must send its CSRF token in the {CSRF_HEADER} header")
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise Refused("csrf", "cross-origin request refused")


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    session_id: Annotated[str | None, Security(session_cookie)],
) -> Actor:
    """The authenticated caller; role checks are the service layer's, not ours."""
    overt = get_overt(request)
    if credentials is not None:
        return authenticate(request, credentials.credentials)
    if request.headers.get("authorization"):
        raise Refused("token", "use the header Authorization: Bearer <token>")
    if session_id:
        session = get_sessions(request).get(session_id)
        if session is None:
            raise Refused("session", "the session has expired or ended: log in again")
        if request.method not in SAFE_METHODS:
            check_csrf(request, session)
        return overt.authenticate(session.token)
    raise Refused("token", "authentication required: Authorization: Bearer <token>, or log in to the console")


OvertDep = Annotated[Overt, Depends(get_overt)]
ActorDep = Annotated[Actor, Depends(current_actor)]
