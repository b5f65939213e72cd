"""Verification on two cores: a second process checks every record's hash (and the HMACs of three
records in ten) while the first follows the links, the Merkle tree, the checkpoints, the lanes and the
bindings, and checks the other HMACs.

Hashing and HMACs are the larger half of verification and need nothing from other records, so a big log
is read twice at once, once by each process (SQLite's WAL and PostgreSQL both serve concurrent readers).
The HMACs are shared so that both passes end together (`MAIN_SHARE`). Both passes stop at the first
problem in chain order; `verify_chain` reports whichever comes first, as one pass would.

Measured on 2 cores (`bench/audit.py`, docs/audit.md): at 1,000,000 records on SQLite, 7.4 s against
10.9 s in one pass; at 300,000 one pass is faster (starting the second process costs about a second).
On PostgreSQL, whose server shares the same two cores, 8.7 s against 12.6 s (both passes once read
rows through SQLAlchemy, and two passes were then slower there)."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from typing import Any

from ..storage.db import Database
from .chain import chain_hash, stored_records, stored_time

PARALLEL_FROM = 500_000
# The records (seq % 10) whose HMACs the main pass checks; the hash pass checks the others. Measured at
# a million SQLite records: half each 8.0 s (the hash pass last by 1.3 s), seven tenths 7.4 s, eight 7.6 s.
MAIN_SHARE = range(7)
_STOP_EVERY = 10_000

@dataclass(frozen=True)
class Problem:
    seq: int
    problem: str


class HashChecker:
    """The second pass, started beside the first; `result(stop_at)` waits for it (stopping it early at
    `stop_at`, the first problem the main pass found) and returns its first problem, if any before."""

    def __init__(self, db: Database, keys: dict[str, bytes] | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Value("q", 2**62)
        self._out = ctx.Queue()
        self._process = ctx.Process(target=_check, args=(db.url, keys, self._stop, self._out), daemon=True)
        self._process.start()
        self._found: list[Problem | str | int] = []  # its first problem, its failure, or how far it checked

    def result(self, stop_at: int) -> Problem | None:
        """The first problem at or before record `stop_at` (the main pass's end, or its first problem)."""
        if not self._found:  # asked once; a failure found after the first answer is past it anyway
            self._stop.value = stop_at
            self._found.append(self._out.get())
            self._process.join()
        found = self._found[0]
        if isinstance(found, str):
            raise RuntimeError(f"the hash-checking process failed: {found}")
        if isinstance(found, int):  # its snapshot began after the main pass's, so it holds at least as much
            if found < stop_at:
                raise RuntimeError(f"the hash-checking process saw {found} records, the main pass {stop_at}")
            return None
        return found if found.seq <= stop_at else None

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _check(url: str, keys: dict[str, bytes] | None, stop: Any, out: Any) -> None:
    from .mac import MacKeyRing
    from .verify import _Failed, _Macs  # the same rules as the main pass

    try:
        ring = MacKeyRing(None, keys, next(iter(keys))) if keys else None  # type: ignore[arg-type]
        macs = _Macs(ring, range(MAIN_SHARE.stop, 10))
        db = Database(url)
        checked = 0
        with db.engine.connect() as conn:
            for count, row in enumerate(stored_records(conn)):
                seq = row[0]
                if count % _STOP_EVERY == 0 and seq > stop.value:
                    break
                if chain_hash(seq, stored_time(row[1]), *row[2:10]) != row[10]:
                    out.put(Problem(seq, f"record {seq} does not match its hash (modified)"))
                    return
                macs.check(seq, row[10], row[11], row[12], row[13], row[14])
                if row[3] == "audit.keys_rotate":
                    macs.rotate_to(str(json.loads(row[8]).get("new_mac_key")))
                checked = seq
        db.dispose()
        out.put(checked)
    except _Failed as failure:
        out.put(Problem(failure.seq or 0, failure.problem))
    except Exception as exc:  # reported by the main process, not swallowed
        out.put(f"{type(exc).__name__}: {exc}")
