"""The head witness: a small file in the keys folder that remembers how far the log has grown.

Authenticated records stop anyone without the key from adding or changing records, but not from cutting
off the newest ones: an earlier state of the database is a valid log. So each process that appends also
writes, outside the database, the head it is about to commit ("pending", before the commit) and the head
it has committed ("committed", after). Someone holding only the database cannot roll the file back, and
verification fails when the database lacks a head that was committed.

One window remains, and it is stated rather than hidden: a process killed between its commit and the
"committed" line leaves "pending" behind, which also describes a transaction that never committed.
Verification reports such a pending head that the database lacks as a warning, not a failure.

Writers hold the chain lock while writing "pending"; the "committed" write takes an flock and changes the
file only if it still names this transaction, so concurrent processes never move the head backwards.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .mac import MacKeyRing
from .sealed import SealedFileError, read_sealed, write_sealed

HEAD_FILE = "audit_head.json"
RECORD_BYTES = 1024


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str

    def as_dict(self) -> dict[str, int | str]:
        return {"seq": self.seq, "hash": self.hash}


@dataclass(frozen=True)
class Witnessed:
    """What the file says: the last head known committed, one being committed (or None), and the newest
    signed checkpoint this machine made (so deleting every checkpoint is noticed too)."""

    committed: Head | None
    pending: Head | None
    signed: int | None = None
    pending_signed: int | None = None  # the head the pending transaction signs, counted once it committed


HeadFileError = SealedFileError  # the head file is unreadable, malformed, or forged (one-line message)


class HeadWitness:
    """Reads and writes the head file under `keys_dir`; every state carries a MAC under the audit key.

    The file stays open in each process (two read-modify-writes a transaction), and the state this
    process last read or wrote is remembered with its bytes: when the file still holds exactly those, it
    is not parsed and checked again. Threads take turns on a mutex (an flock is shared by everything
    that uses the same open file), processes on the flock."""

    def __init__(self, path: Path, ring: MacKeyRing) -> None:
        self.path = path
        self.ring = ring
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._closer: weakref.finalize | None = None
        self._seen: tuple[bytes, Witnessed | None] = (b"", None)

    def begin(self, committed: Head | None, pending: Head, signed: int | None) -> None:
        """Before the commit: the database's head as this transaction found it, the one it adds, and the
        newest checkpoint it signs (if any). A transaction still pending in the file whose head is the one
        found committed (its writer had not yet settled): its signed head counts from now on."""
        with self._locked() as fd:
            current = self._current(fd)
            known = current.signed if current else None
            if current is not None and current.pending is not None and current.pending == committed:
                known = _newest(known, current.pending_signed)
            self._write(fd, Witnessed(committed, pending, known, signed))

    def settle(self, pending: Head, committed: bool) -> None:
        """After the commit (or rollback): the file moves on only if it still names this transaction."""
        with self._locked() as fd:
            current = self._current(fd)
            if current is None or current.pending != pending:
                return
            if committed:
                self._write(fd, Witnessed(pending, None, _newest(current.signed, current.pending_signed)))
            else:
                self._write(fd, Witnessed(current.committed, None, current.signed))

    def read(self) -> Witnessed | None:
        """The file's state; None when there is no file (no process has appended since version 0003)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HeadFileError(f"cannot read the audit head file {self.path}: {exc.strerror}") from None
        state = self._parse(data)
        if state is None:
            raise HeadFileError(f"the audit head file {self.path} is empty")
        return state

    # --- the file's format ----------------------------------------------------------------------------
    def _current(self, fd: int) -> Witnessed | None:
        data = os.pread(fd, 1 << 16, 0)
        seen, state = self._seen
        if data != seen:
            state = self._parse(data)
            self._seen = (data, state)
        return state

    def _write(self, fd: int, state: Witnessed) -> None:
        body = {
            "committed": state.committed.as_dict() if state.committed else None,
            "pending": state.pending.as_dict() if state.pending else None,
            "signed": state.signed,
            "pending_signed": state.pending_signed,
        }
        self._seen = (write_sealed(fd, self.ring, body, RECORD_BYTES), state)

    def _parse(self, data: bytes) -> Witnessed | None:
        raw = read_sealed(data, self.ring, self.path, "audit head file")
        if raw is None:
            return None
        try:
            return Witnessed(
                Head(int(raw["committed"]["seq"]), str(raw["committed"]["hash"])) if raw["committed"] else None,
                Head(int(raw["pending"]["seq"]), str(raw["pending"]["hash"])) if raw["pending"] else None,
                int(raw["signed"]) if raw.get("signed") is not None else None,
                int(raw["pending_signed"]) if raw.get("pending_signed") is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            raise HeadFileError(f"the audit head file {self.path} is not an audit head file") from None

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The file (created 0600, reopened in a forked child or once removed) flock'ed for one
        read-modify-write."""
        with self._mutex:
            fd = self._fd
            if fd is None or self._pid != os.getpid() or os.fstat(fd).st_nlink == 0:
                fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        if self._closer is not None and self._pid == os.getpid():
            self._closer()
        self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        self._closer = weakref.finalize(self, os.close, self._fd)
        self._seen = (b"", None)
        return self._fd


def _newest(known: int | None, signed: int | None) -> int | None:
    return max(v for v in (known, signed) if v is not None) if (known, signed) != (None, None) else None
