"""One clock for the whole installation: the database's.

Alert windows, sighting keys, the gate's time windows, hourly counts, leases and retention all compare
times written by different machines. Each machine's own clock drifts (or is simply wrong), so a worker
whose clock ran three hours ahead would close a window that is still open and open a second alert for
one passer-by. On PostgreSQL every such time is read from the server (`now()`: the start of the
transaction, the same for every statement in it). SQLite lives on one machine: its clock is that
machine's, which is the process's own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


def database_now(session: Session) -> datetime:
    """The database's time now (timezone-aware, UTC), read inside `session`'s transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT now()")).scalar_one().astimezone(UTC)
    return datetime.now(UTC)
