"""Failed-token throttling: guessing API tokens costs time, per client address and per token prefix.

Every route that takes a token counts its failures here (the login route's own rate limit counts all of
its requests). A client that keeps failing — or many clients failing on tokens that share a prefix, as a
distributed guess of one leaked token would — gets 429 with Retry-After before any token is looked up.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from ..services import Actor, Refused
from .middleware import TokenBuckets

PREFIX_CHARS = 12  # "ovt_" and the first 8 random characters


class FailedTokens:
    """Token buckets spent only by failures: `burst` failures at once, then one per 1/`rate` seconds."""

    def __init__(self, rate: float, burst: int) -> None:
        self.clients = TokenBuckets(rate, burst)
        self.prefixes = TokenBuckets(rate, burst)

    def check(self, client: str, token: str) -> None:
        wait = max(self.clients.wait(client), self.prefixes.wait(token[:PREFIX_CHARS]))
        if wait:
            retry = str(max(1, int(wait + 0.999)))
            raise HTTPException(429, f"too many failed token attempts; try again in {retry} s",
                                headers={"Retry-After": retry})

    def failed(self, client: str, token: str) -> None:
        self.clients.take(client)
        self.prefixes.take(token[:PREFIX_CHARS])


def authenticate(request: Request, token: str) -> Actor:
    """The token's user, unless this client or this token's prefix has failed too often (429)."""
    failures: FailedTokens = request.app.state.failed_tokens
    client = request.client.host if request.client else "unknown"
    failures.check(client, token)
    try:
        return request.app.state.overt.authenticate(token)
    except Refused:
        failures.failed(client, token)
        raise
