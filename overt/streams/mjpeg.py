"""A small MJPEG-over-HTTP camera: multipart/x-mixed-replace from a video file or a list of images.

Many IP cameras expose exactly this, so tests and the demo can exercise the real network path
(HTTP, JPEG decoding, timeouts, reconnects) without a camera. It behaves like a camera, not a file
server: one clock produces frames at `fps` for every viewer, starting when the first viewer
connects; a viewer who reconnects continues from the current frame. `drop_after` closes each
connection after that many frames, to test reconnection. With `certfile` (a PEM holding the
certificate and its key) it serves HTTPS. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from .sources import SourceSettings, open_source

BOUNDARY = "overtframe"
PATH = "/stream.mjpg"


class MjpegServer:
    """Serve frames as an MJPEG stream at `url` until stopped (or, without `loop`, until they run out)."""

    def __init__(
        self,
        frames: str | Path | Sequence[np.ndarray],
        fps: float = 10.0,
        port: int = 0,
        drop_after: int | None = None,
        loop: bool = False,
        quality: int = 85,
        certfile: str | Path | None = None,
    ) -> None:
        self.frames = frames
        self.fps = fps
        self.drop_after = drop_after
        self.loop = loop
        self.quality = quality
        self.frames_sent = 0  # across all connections
        self.connections = 0
        self.ended = False  # the frames ran out; new viewers get 503
        self._latest: tuple[int, bytes] | None = None
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._producer: threading.Thread | None = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if certfile is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(certfile))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._server_thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}{PATH}"

    def start(self) -> MjpegServer:
        self._server_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; open connections are closed."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._producer is not None:
            self._producer.join(2.0)

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the camera clock --------------------------------------------------------------------------

    def _images(self) -> Iterator[np.ndarray]:
        while True:
            if isinstance(self.frames, (str, Path)):
                with open_source(str(self.frames), SourceSettings(live=False)) as source:
                    for frame in source:
                        yield frame.image
            else:
                yield from self.frames
            if not self.loop:
                return

    def _produce(self) -> None:
        next_due = time.monotonic()
        for number, image in enumerate(self._images()):
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                continue
            if self._stopping.wait(max(0.0, next_due - time.monotonic())):
                return
            next_due += 1.0 / self.fps
            with self._cond:
                self._latest = (number, jpeg.tobytes())
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def _ensure_producing(self) -> None:
        with self._cond:
            if self._producer is None:
                self._producer = threading.Thread(target=self._produce, name="mjpeg-camera", daemon=True)
                self._producer.start()

    def _next_frame(self, after: int) -> tuple[int, bytes] | None:
        """The first frame newer than `after`; None once the stream ended or the server stops."""
        with self._cond:
            while not self._stopping.is_set():
                if self._latest is not None and self._latest[0] > after:
                    return self._latest
                if self.ended:
                    return None
                self._cond.wait(0.5)
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                if self.path.split("?", 1)[0] != PATH:
                    self.send_error(404, "no such stream")
                    return
                if server.ended or server._stopping.is_set():
                    self.send_error(503, "the stream has ended")
                    return
                server._ensure_producing()
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache, no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                sent, last = 0, -1
                while server.drop_after is None or sent < server.drop_after:
                    item = server._next_frame(last)
                    if item is None:
                        break
                    last, jpeg = item
                    try:
                        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                        self.wfile.write(head.encode() + b"\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                    except OSError:  # the viewer went away
                        return
                    sent += 1
                    server.frames_sent += 1
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
                """Quiet: a camera does not log every request to stderr."""

        return Handler
