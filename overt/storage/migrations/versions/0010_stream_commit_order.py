"""The writer's transaction id on alerts and reviews (PostgreSQL), so the live stream reads them in an
order no later commit can go back on (overt/storage/commit_order.py)

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("alerts", "reviews")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time, ids already in commit order
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN created_xid bigint NOT NULL DEFAULT 0")  # existing rows: ended
        op.execute(f"ALTER TABLE {table} ALTER COLUMN created_xid "
                   "SET DEFAULT CAST(CAST(pg_current_xact_id() AS text) AS bigint)")
        op.execute(f"CREATE INDEX ix_{table}_commit_order ON {table} (created_xid, id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP INDEX ix_{table}_commit_order")
        op.execute(f"ALTER TABLE {table} DROP COLUMN created_xid")
