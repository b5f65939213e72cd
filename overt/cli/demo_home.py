"""The demo's temporary data directory: owned by one process, removed on exit, on SIGTERM, and — after a
crash or `kill -9`, when no code of ours could run — by the next demo to start.

The folder holds a database, keys and a camera video; leaving copies behind in the system's temporary
folder would be both clutter and a privacy smell, however synthetic the demo is.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

PREFIX = "overt-demo-"
MARKER = "owner.pid"  # the owning process's id; a folder whose owner is gone is stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return True
    return True


def remove_stale(parent: Path) -> list[Path]:
    """Delete demo folders whose owning process has died; folders without a marker are left alone
    (another demo may be between creating its folder and claiming it)."""
    removed = []
    for folder in sorted(parent.glob(PREFIX + "*")):
        try:
            pid = int((folder / MARKER).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally` that deletes the folder


@contextmanager
def demo_home() -> Iterator[tuple[Path, list[Path]]]:
    """A fresh folder claimed by this process, and the stale folders removed on the way in.

    SIGTERM is turned into SystemExit while the folder exists, so it is deleted however the demo is
    stopped short of SIGKILL (uvicorn re-raises a SIGTERM it handled once it has shut down).
    """
    parent = Path(tempfile.gettempdir())
    stale = remove_stale(parent)
    home = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        (home / MARKER).write_text(f"{os.getpid()}\n")
        yield home, stale
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(home, ignore_errors=True)
