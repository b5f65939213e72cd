"""Running the app under uvicorn: in the foreground (`overt serve`) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from fastapi import FastAPI


class Server(uvicorn.Server):
    """uvicorn, but a stop request also ends the live alert streams (they would otherwise hold it open)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.overt_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.overt_app.state.closing.set()
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        self.overt_app.state.closing.set()
        self.should_exit = True


def config(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    proxies = app.state.settings.trusted_proxies.strip()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=bool(proxies),  # client addresses (rate limits) from X-Forwarded-For: only from these
        forwarded_allow_ips=proxies or None,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    Server(config(app, host, port), app).run()


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", log_level: str = "warning") -> Iterator[str]:
    """The app served on a free loopback port in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = Server(config(app, host, port, log_level), app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=15)
        sock.close()
