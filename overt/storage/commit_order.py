"""Reading new rows in an order that no later commit can go back on, for the live alert stream.

Ids come from a sequence when a row is inserted, not when its transaction commits: with several
writers, alert 7 may commit after alert 8, and a reader that polled in between and remembered "up to
8" would never see 7. The stream therefore orders rows by *(writer's transaction id, row id)* and only
reads rows whose writer's transaction id is below the *commit horizon*: PostgreSQL's
`pg_snapshot_xmin(pg_current_snapshot())`, the oldest transaction still running anywhere. Every
transaction below the horizon has ended (committed or rolled back), so the rows it wrote are all
visible now and no new row can ever appear below it; rows of transactions still running wait until
the horizon passes them. So a cursor (transaction id, row id) is exact: each row is read once, in the
same order by every reader, whether it resumes mid-batch or on another API process.

The writer's transaction id is stored at insert (`created_xid`, default `pg_current_xact_id()`: the
migration 0010) rather than read from the system column `xmin`, which an UPDATE (a review moving an
alert's status) would change. A long transaction anywhere on the server holds the horizon back:
the stream is late then, never wrong. SQLite has one writer at a time (`Database.write_lock`), so there
ids are handed out in commit order already; the transaction part is 0 and there is no horizon.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, literal_column, text, tuple_
from sqlalchemy.orm import Session

Position = tuple[int, int]  # (the writer's transaction id, the row id); (0, id) on SQLite
START: Position = (0, 0)
HORIZON = text("SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)")


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def writer(session: Session, table: str) -> ColumnElement[int]:
    """The column holding the writer's transaction id of `table`'s rows (0 on SQLite)."""
    return literal_column(f"{table}.created_xid" if _postgres(session) else "0")


def horizon(session: Session) -> int | None:
    """The oldest transaction id still running (None on SQLite, where commits are in id order)."""
    return session.execute(HORIZON).scalar_one() if _postgres(session) else None


def after(query: Select, session: Session, table: str, row_id: ColumnElement[int], since: Position,
          limit_to: int | None) -> Select:
    """`query` narrowed to the rows after `since` that no commit can still precede, in that order."""
    xid = writer(session, table)
    if limit_to is None:  # SQLite: the id alone orders commits
        return query.where(row_id > since[1]).order_by(row_id)
    return query.where(tuple_(xid, row_id) > tuple_(since[0], since[1]), xid < limit_to).order_by(xid, row_id)


def now_position(session: Session, table: str, row_id: ColumnElement[int]) -> Position:
    """Where a reader that starts now begins: after every row whose writer has ended (on PostgreSQL, a
    row of a transaction still running when the stream starts counts as new when it commits)."""
    limit_to = horizon(session)
    if limit_to is None:
        return 0, session.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
    return limit_to, 0
