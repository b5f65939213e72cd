"""The chain lock as writers try it after their commit on PostgreSQL: one connection per process, one
round trip.

After every commit that queued entries, a writer tries the chain lock, and whoever lets it go looks at
the queue once more (`sequencer.py`). Through a pooled session each try cost a checkout, a ping, BEGIN,
the try and ROLLBACK: five round trips, most of an audited append's cost with eight writers on two
cores. Here the lock is PostgreSQL's session-level advisory lock (the same key as the transactions'
`pg_advisory_xact_lock`, so the two exclude each other) taken on a connection this process keeps in
autocommit: trying, releasing and looking are one statement each. Threads of the process share it
under a mutex; a thread that finds the mutex taken treats the lock as held by another writer, which
will look at the queue after letting go, as any holder does.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from .chain import PG_LOCK_KEY


class TryLock:
    """Try, release and look, each in one round trip on this process's own connection."""

    def __init__(self, engine: Engine) -> None:
        # Its own engine without a pool: the connection in autocommit never serves anyone else's transaction,
        # and is closed when dropped.
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._mutex = threading.Lock()
        self._conn: Any = None  # the pool's wrapper of a psycopg connection in autocommit, or None
        self._pid = 0

    def acquire(self) -> bool:
        """Take the chain lock if it is free (then `release` it); False at once if anyone holds it."""
        if not self._mutex.acquire(blocking=False):
            return False
        try:
            taken = bool(self._one("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_KEY,)))
        except BaseException:
            self._mutex.release()
            raise
        if not taken:
            self._mutex.release()
        return taken

    def release(self) -> None:
        try:
            self._one("SELECT pg_advisory_unlock(%s)", (PG_LOCK_KEY,))
        finally:
            self._mutex.release()

    def anything_queued(self, besides: set[int]) -> bool:
        """Whether an entry other than `besides` (ids refused as forged) waits in the queue."""
        return self._one("SELECT EXISTS (SELECT 1 FROM audit_queue WHERE NOT id = ANY(%s))", (sorted(besides),))

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        conn = self._connection()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchone()[0]
        except Exception:
            self._drop()  # a broken connection: the server released its lock; the next call reconnects
            raise

    def _connection(self) -> Any:
        if self._conn is None or self._pid != os.getpid():  # none yet, or inherited across a fork
            self._conn, self._pid = self._engine.raw_connection(), os.getpid()
            self._conn.driver_connection.autocommit = True
        return self._conn.driver_connection

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()
