"""API state shared by every `overt serve` process through PostgreSQL: console sessions and rate limits.

Drop-in for the in-memory `Sessions` and `TokenBuckets` of overt/api (the single-process default), so a
reverse proxy may send each request to any API process. The session table holds nothing an insider can
log in with: the row is keyed by a hash of the session id, and the user's token and CSRF value are
sealed (AES-GCM) under a key derived from the session id, which only the browser's cookie holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select, text

from ..storage.db import Database
from ..storage.models import ConsoleSession


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(b"overt-session-id\0" + session_id.encode()).hexdigest()


def _cipher(session_id: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"overt-session-key\0" + session_id.encode()).digest())


class DatabaseSessions:
    """Console sessions in the `console_sessions` table (same interface as overt.api.auth.Sessions)."""

    def __init__(self, db: Database, ttl_seconds: float, max_sessions: int) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.max_sessions = max_sessions

    def open(self, token: str):  # -> tuple[str, BrowserSession]; typed loosely: api imports us, not we it
        from ..api.auth import BrowserSession

        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        nonce = os.urandom(12)
        sealed = nonce + _cipher(session_id).encrypt(nonce, json.dumps([token, csrf]).encode(), b"session")
        with self.db.session() as session:
            now = session.execute(text("SELECT now()")).scalar_one()
            session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
            surplus = session.scalar(select(func.count()).select_from(ConsoleSession)) - self.max_sessions + 1
            if surplus > 0:  # the oldest go first, as in memory
                oldest = select(ConsoleSession.id_hash).order_by(ConsoleSession.expires_at).limit(surplus)
                session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash.in_(oldest.scalar_subquery())))
            expires = now + timedelta(seconds=self.ttl)
            session.add(ConsoleSession(id_hash=_id_hash(session_id), sealed=sealed, expires_at=expires))
        return session_id, BrowserSession(token, csrf, expires.timestamp())

    def get(self, session_id: str):
        from ..api.auth import BrowserSession

        with self.db.session() as session:
            row = session.scalar(select(ConsoleSession).where(ConsoleSession.id_hash == _id_hash(session_id),
                                                              ConsoleSession.expires_at > func.now()))
        if row is None:
            return None
        try:
            token, csrf = json.loads(_cipher(session_id).decrypt(row.sealed[:12], row.sealed[12:], b"session"))
        except InvalidTag:  # a row copied under another id: it opens nothing
            return None
        return BrowserSession(token, csrf, row.expires_at.timestamp())

    def close(self, session_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _id_hash(session_id)))


# One statement per request: refill by the database's clock, spend a token if there is one.
_REFILL = "LEAST(CAST(:burst AS float), rate_buckets.tokens + EXTRACT(EPOCH FROM now() - rate_buckets.at) * :rate)"
TAKE = text(
    f"""
    INSERT INTO rate_buckets (kind, client, tokens, allowed, at)
    VALUES (:kind, :client, CAST(:burst AS float) - 1, true, now())
    ON CONFLICT (kind, client) DO UPDATE SET
        allowed = {_REFILL} >= 1,
        tokens = CASE WHEN {_REFILL} >= 1 THEN {_REFILL} - 1 ELSE {_REFILL} END,
        at = now()
    RETURNING allowed, tokens
    """
)


class DatabaseBuckets:
    """Token buckets in the `rate_buckets` table (same interface as overt.api.middleware.TokenBuckets)."""

    def __init__(self, db: Database, kind: str, rate: float, burst: int) -> None:
        self.db = db
        self.kind = kind
        self.rate = rate
        self.burst = burst

    def take(self, key: str) -> float:
        """0 when allowed (a token is spent), else the seconds until one is available."""
        with self.db.session() as session:
            allowed, tokens = session.execute(
                TAKE, {"kind": self.kind, "client": key[:64], "rate": self.rate, "burst": self.burst}).one()
        return 0.0 if allowed else (1 - tokens) / self.rate
