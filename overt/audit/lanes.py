"""Writers' lanes: each thread that appends numbers its own entries, and remembers outside the database
how far it got, so that deleting an entry before it is chained is noticed.

Entries that a writer could not chain in its own transaction wait in `audit_queue` until the chain
lock's holder chains them (see `sequencer.py`). The chain's head witness cannot see them yet, so each
writing thread has a lane: an id of its own, a counter without gaps (a rolled-back transaction gives its
numbers back), and a sealed file in the keys folder saying which number it is about to commit to the
queue ("pending") and which it has committed. Verification then requires, for every lane, the entries
1..committed in the chain or the queue, in order: removing a queued entry, or the newest ones, breaks
that. A writer killed between its commit and the "committed" write leaves "pending": an interrupted
commit, reported as a warning, the same window the head witness states. Entries chained in their own
transaction are numbered too, but their file is not written: the head witness guards them, as it guards
everything chained. Lanes are per thread, so concurrent writers never wait for each other here.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .mac import MacKeyRing
from .sealed import SealedFileError, read_sealed, write_sealed

LANES_DIR = "audit_lanes"
LANE_BYTES = 256


@dataclass(frozen=True)
class LaneState:
    """What a lane's file says: the last entry its writer committed and the one it is committing."""

    lane: str
    committed: int
    pending: int | None


class Lane:
    """One thread's lane: numbers handed out without gaps; one transaction at a time commits through it."""

    def __init__(self, directory: Path | None, ring: MacKeyRing) -> None:
        self.id = f"{os.getpid()}-{secrets.token_hex(8)}"
        self.committed = 0
        self.busy = False
        self._ring = ring
        self._path = directory / f"{self.id}.json" if directory is not None else None
        self._pending = 0
        self._written = False  # this transaction's numbers were written to the file (it queues)
        self._fd: int | None = None  # kept open: two writes a transaction, no open() each time
        self._closer: weakref.finalize | None = None

    def begin(self, count: int) -> int:
        """Reserve the next `count` numbers for a transaction about to commit; returns the first."""
        self.busy = True
        self._pending = self.committed + count
        return self.committed + 1

    def queueing(self) -> None:
        """The transaction queues its entries: the file says so before it commits."""
        self._write(self.committed, self._pending)
        self._written = True

    def settle(self, end: int | None, committed: bool) -> None:
        """After the commit (the numbers up to `end` are used) or the rollback (they are given back)."""
        if committed and end is not None:
            self.committed = end
        self.busy = False
        if self._written:
            self._write(self.committed, None)
            self._written = False

    def _write(self, committed: int, pending: int | None) -> None:
        if self._path is None:
            return
        if self._fd is None or os.fstat(self._fd).st_nlink == 0:  # first write, or pruned while idle
            self._close()
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._closer = weakref.finalize(self, os.close, self._fd)
        write_sealed(self._fd, self._ring, {"lane": self.id, "committed": committed, "pending": pending}, LANE_BYTES)

    def _close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._fd, self._closer = None, None


class Lanes:
    """The lanes of this process's threads; a thread committing inside its own commit gets a fresh one."""

    def __init__(self, directory: Path | None, ring: MacKeyRing) -> None:
        self.directory = directory
        self.ring = ring
        self._local = threading.local()
        if directory is not None:
            directory.mkdir(mode=0o700, exist_ok=True)

    def lane(self) -> Lane:
        lane = getattr(self._local, "lane", None)
        if lane is None or lane.id.split("-", 1)[0] != str(os.getpid()):  # a forked child starts its own
            lane = self._local.lane = Lane(self.directory, self.ring)
        return lane if not lane.busy else Lane(self.directory, self.ring)

    def prune(self, chained_of: Callable[[list[str]], dict[str, int]], idle_s: float = 600.0) -> int:
        """Remove the files of lanes idle for `idle_s` whose committed entries are all chained
        (`chained_of(lanes)`: lane -> the highest number in the chain); the chain and its head witness
        protect those entries from then on, so the keys folder does not fill with one file per process."""
        if self.directory is None:
            return 0
        cutoff = time.time() - idle_s
        idle = []
        for state, path in read_lanes(self.directory, self.ring, strict=False):
            try:
                if path.stat().st_mtime < cutoff and state.pending is None:
                    idle.append((state, path))
            except FileNotFoundError:
                continue
        chained = chained_of([state.lane for state, _path in idle]) if idle else {}
        removed = 0
        for state, path in idle:
            if chained.get(state.lane, 0) >= state.committed:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def read_lanes(directory: Path, ring: MacKeyRing, strict: bool = True) -> Iterator[tuple[LaneState, Path]]:
    """Every lane file's state; a forged or garbled file raises SealedFileError (skipped if not `strict`)."""
    try:
        paths = sorted(directory.glob("*.json"))
    except OSError:
        return
    for path in paths:
        try:
            state = read_sealed(path.read_bytes(), ring, path, "audit lane file")
            if state is None:
                raise SealedFileError(f"the audit lane file {path} is empty")
            lane = LaneState(str(state["lane"]), int(state["committed"]),
                             None if state["pending"] is None else int(state["pending"]))
        except FileNotFoundError:
            continue
        except (KeyError, TypeError, ValueError):
            if strict:
                raise SealedFileError(f"the audit lane file {path} is not an audit lane file") from None
            continue
        except SealedFileError:
            if strict:
                raise
            continue
        if strict and lane.lane != path.stem:
            raise SealedFileError(f"the audit lane file {path} holds lane {lane.lane}: copied or renamed")
        yield lane, path
