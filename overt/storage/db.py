"""Engine and sessions for SQLite (embedded default) and PostgreSQL, and schema migration."""

from __future__ import annotations

import fcntl
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


_WRITER_HELD = "overt.storage.writer_held"  # (the flock'ed fd, this process's holders)
_WRITER = "overt.storage.writer"  # this transaction has begun as SQLite's writer
_WAITED = "overt.storage.waited_for_another_process"
_IDLE_SINCE = "overt.storage.idle_since"
PING_IDLE_S = 10.0


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._writers_file: Path | None = None
        self._waiting_file: Path | None = None
        self._writers = _Holders()
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._writers_file = Path(f"{path}.writers")
                self._waiting_file = Path(f"{path}.waiting")
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(url)
            event.listen(self.engine, "connect", _idle_from_now)
            event.listen(self.engine, "checkin", _idle_from_now)
            event.listen(self.engine, "checkout", self._ping_if_in_doubt)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if self.is_sqlite:  # first among the listeners: other writers go on at once
            event.listen(self._sessions, "after_commit", _release_writer_after_commit)
            event.listen(self._sessions, "after_transaction_end", _release_writer)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def write_lock(self, session: Session, wait: bool = True) -> bool:
        """Make this transaction SQLite's one writer before it reads anything; nothing on PostgreSQL.

        Writers queue on an flock of `<database>.writers` (the OS wakes them in turn, across threads and
        processes), then take SQLite's write lock, which is free by then. Left to SQLite's busy handler,
        which sleeps and retries, eight writing processes managed a fraction of one process's rate. Taking
        the lock before the first read also spares a deferred transaction the "database is locked" that a
        stale snapshot gets when it writes. Held until the transaction ends; idempotent within it. Without
        `wait`, only if no other writer holds it: returns whether this transaction is the writer.
        """
        if not self.is_sqlite or _WRITER in session.info:
            return True
        if self._writers_file is not None and _WRITER_HELD not in session.info:
            fd = os.open(self._writers_file, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    return False
                if not self._writers.count:
                    session.info[_WAITED] = True
                with self._waiting():
                    fcntl.flock(fd, fcntl.LOCK_EX)
            self._writers.add(1)
            session.info[_WRITER_HELD] = (fd, self._writers)
        session.connection().exec_driver_sql("INSERT INTO audit_log (seq) SELECT 0 WHERE 0")
        session.info[_WRITER] = True
        return True

    def writer_is_idle(self) -> bool:
        """Whether no transaction holds SQLite's writer lock at this instant and none waits for it (a hint:
        it may be taken the next). After its commit a writer asks this before it takes the lock again to
        chain what others queued. Cheaper than a session that tries the lock (eight writing processes mostly
        find it taken, and a session begun and ended for nothing cost each of them 0.4 ms of CPU); and a
        writer that just let go of the lock would otherwise take it back before the writer the OS woke for
        it could run: on two cores such writers chained a record or two a transaction, over and over, while
        the others waited (265-295 appends a second, in runs slowed by timers, against about 1,000)."""
        return not (_flocked(self._writers_file) or _flocked(self._waiting_file))

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """While a writer waits for the writer lock it holds a shared flock of `<database>.waiting`, so that
        `writer_is_idle` can tell that it waits."""
        if self._waiting_file is None:
            yield
            return
        fd = os.open(self._waiting_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # an instant's wait at most: `writer_is_idle` only tries
            yield
        finally:
            os.close(fd)

    def waited_for_another_process(self, session: Session) -> bool:
        """Whether this transaction, to become SQLite's writer, waited for a writer of another process
        (none of this process's held the lock). The audit log then queues its entries rather than chain
        them in this turn: a process that has just woken pays for every page it reads, and the writers
        queued behind it are waiting for its commit (see `audit/sequencer.py`)."""
        return bool(session.info.get(_WAITED))

    def listen(self, identifier: str, fn: Callable[..., Any]) -> None:
        """Listen to a session event (e.g. "before_commit") on every session this database makes."""
        event.listen(self._sessions, identifier, fn)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def is_initialised(self) -> bool:
        return inspect(self.engine).has_table("alembic_version")

    def _ping_if_in_doubt(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """A pooled PostgreSQL connection is pinged before use only if it may be dead: it sat idle for
        `PING_IDLE_S` (a firewall or the server may have dropped it silently), or the server has sent
        it something while it was idle (a restarting or terminated backend says so and closes the
        socket). Pinging at every checkout cost each transaction a round trip: eight writing processes
        managed 15% fewer audited appends. A dead one is replaced: the pool retries with a fresh one."""
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_IDLE_S and _quiet(dbapi_connection):
            return
        try:
            alive = self.engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any driver error: the connection is unusable
            raise DisconnectionError(f"a pooled connection was dead: {exc}") from exc
        if not alive:
            raise DisconnectionError("a pooled connection did not answer")

    def dispose(self) -> None:
        self.engine.dispose()


def _release_writer_now(session: Session) -> None:
    """The database transaction has ended: the next writer may go on (closing the file releases the flock)."""
    session.info.pop(_WRITER, None)
    session.info.pop(_WAITED, None)
    held = session.info.pop(_WRITER_HELD, None)
    if held is not None:
        fd, holders = held
        holders.add(-1)
        os.close(fd)


def _release_writer_after_commit(session: Session) -> None:
    # Committed: released before the other after-commit work. (A savepoint's release is not the
    # transaction's end, nor is a savepoint's rollback, which fires `after_rollback` too: rollbacks
    # release at the transaction's end.)
    if not session.in_nested_transaction():
        _release_writer_now(session)


def _release_writer(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # rolled back, or ended without a commit
        _release_writer_now(session)


class _Holders:
    """How many of this process's transactions hold the writer lock now (0 when a waiter is another process's)."""

    def __init__(self) -> None:
        self.count = 0
        self._mutex = threading.Lock()

    def add(self, n: int) -> None:
        with self._mutex:
            self.count += n


def _flocked(path: Path | None) -> bool:
    """Whether a transaction holds (or, for the waiting file, shares) an flock of `path` now."""
    if path is None:
        return False
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the flock if it was taken
    return False


def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _quiet(dbapi_connection: Any) -> bool:
    """Nothing has arrived on the connection's socket since its last reply (poll, not select: a server
    may hold more than 1,024 files); a closed connection is not quiet."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return not poller.poll(0)
    except Exception:  # no socket any more
        return False


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling commits when a savepoint that opened the transaction is released;
    # SQLAlchemy's recipe: let SQLAlchemy emit BEGIN itself, so savepoints roll back as they should.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted biometric data is overwritten, not left in free pages
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN")
