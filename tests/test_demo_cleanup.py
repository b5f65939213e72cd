"""`overt serve --demo` leaves nothing behind: its folder goes on SIGTERM, and after a `kill -9` the next
demo to start removes it. Real processes, real signals; TMPDIR points at the test's own folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from overt.cli.demo_home import MARKER, PREFIX


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_demo(tmp: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(Path(__file__).parent.parent)}
    env.pop("OVERT_HOME", None)
    return subprocess.Popen([sys.executable, "-m", "overt", "serve", "--demo", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def claimed_by(tmp: Path, pid: int) -> list[Path]:
    return [f for f in tmp.glob(PREFIX + "*") if (f / MARKER).is_file() and (f / MARKER).read_text().split()
            == [str(pid)]]


@pytest.mark.slow
def test_sigterm_removes_the_demo_folder_of_a_running_server(tmp_path: Path) -> None:
    port = free_port()
    demo = start_demo(tmp_path, port)
    try:
        wait_for(lambda: claimed_by(tmp_path, demo.pid), "the demo folder")
        (folder,) = claimed_by(tmp_path, demo.pid)

        def serving() -> bool:
            assert demo.poll() is None, demo.stderr.read().decode() if demo.stderr else ""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(serving, "the demo server")
        assert (folder / "demo-camera.mp4").is_file()
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=120)
    finally:
        demo.kill()
    assert not folder.exists()
    assert "Traceback" not in demo.stderr.read().decode()


@pytest.mark.slow
def test_the_next_demo_removes_the_folder_of_one_killed_outright(tmp_path: Path) -> None:
    crashed = start_demo(tmp_path, free_port())
    wait_for(lambda: claimed_by(tmp_path, crashed.pid), "the first demo's folder")
    (left_behind,) = claimed_by(tmp_path, crashed.pid)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=60)
    assert left_behind.exists()  # nothing of ours ran

    unclaimed = tmp_path / (PREFIX + "being-created")  # no marker yet: another demo's, not to be touched
    unclaimed.mkdir()
    second = start_demo(tmp_path, free_port())
    try:
        wait_for(lambda: not left_behind.exists(), "the stale folder to be removed")
        wait_for(lambda: claimed_by(tmp_path, second.pid), "the second demo's folder")
        (own,) = claimed_by(tmp_path, second.pid)
        second.send_signal(signal.SIGTERM)  # while it is still seeding: the folder goes all the same
        second.wait(timeout=120)
    finally:
        second.kill()
    assert not own.exists() and unclaimed.exists()
