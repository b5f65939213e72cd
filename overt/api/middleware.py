"""Plain ASGI middleware: security headers and a last-resort JSON 500, body-size limits, rate limits.

Pure ASGI rather than BaseHTTPMiddleware so streamed responses (server-sent events, audit exports)
pass straight through.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TooLarge, error_body

log = logging.getLogger("overt.api")


async def send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class Guard:
    """Adds the security headers to every response, and turns any unhandled error into a bare JSON 500."""

    def __init__(self, app: ASGIApp, headers: Callable[[str], list[tuple[bytes, bytes]]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers(scope["path"])
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *((n, v) for n, v in extra if n not in names)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            if started:
                raise
            await send_json(send, 500, error_body("internal", "internal error (logged on the server)"), extra)


class BodyLimit:
    """Refuses request bodies over the limit that `limit_for(scope)` gives: at once when Content-Length
    says so, else while reading (chunked uploads), before anything is parsed or stored."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await send_json(send, 413, error_body("too-large", f"request body over the limit of {limit} bytes"))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
            return message

        await self.app(scope, limited, send)


class TokenBuckets:
    """One bucket per key (a client address): `rate` tokens a second up to `burst`; bounded key count."""

    def __init__(self, rate: float, burst: int, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed (a token is spent), else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return 0.0 if allowed else (1 - tokens) / self.rate

    def wait(self, key: str) -> float:
        """Like `take`, without spending: 0 when a token is available, else the seconds until one is."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


class RateLimit:
    """Token buckets per client address for the routes anyone can call; `classify` picks the bucket."""

    def __init__(
        self, app: ASGIApp, buckets: dict[str, Any], classify: Callable[[str, str], str | None]
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.classify = classify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = self.classify(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if kind is not None:
            client = scope.get("client") or ("unknown", 0)
            # a database-backed bucket (several API processes) is a blocking round trip: off the event loop
            wait = await run_in_threadpool(self.buckets[kind].take, client[0])
            if wait:
                retry = str(max(1, math.ceil(wait)))
                body = error_body("rate-limit", f"too many requests; try again in {retry} s")
                await send_json(send, 429, body, [(b"retry-after", retry.encode())])
                return
        await self.app(scope, receive, send)
