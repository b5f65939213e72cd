"""Pooled PostgreSQL connections: pinged only when in doubt, and a dead one never reaches an operation.

A ping at every checkout cost every transaction a round trip; instead a connection is pinged when it sat
idle for long, or when the server sent it something while idle (a backend that is terminated or shut
down says so and closes the socket). Tried as a DBA or a restart would: every backend terminated.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from overt.storage import db as storage_db
from overt.storage.db import Database

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # the pool is PostgreSQL's


def one(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT 1")).scalar_one())


def test_connections_cut_by_the_server_are_replaced_before_an_operation_uses_them(database: Database) -> None:
    one(database)  # a connection waits in the pool
    admin = create_engine(database.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # waits up to 5 s for each backend to have ended
            cut = conn.scalars(text("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
    finally:
        admin.dispose()
    assert cut and all(cut)
    assert one(database) == 1


def test_a_connection_in_steady_use_is_not_pinged_one_idle_for_long_is(database: Database,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[object] = []
    ping = database.engine.dialect.do_ping
    monkeypatch.setattr(database.engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
    for _ in range(20):
        one(database)
    assert pings == []
    monkeypatch.setattr(storage_db, "PING_IDLE_S", 0.0)
    one(database)
    assert len(pings) == 1
