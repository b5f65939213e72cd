"""Cluster state in the database: leases for once-per-cluster jobs, console sessions, rate buckets, and
a notice to search replicas when a watchlist changes

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from overt.storage.models import UtcDateTime

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_leases",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), primary_key=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("kind", sa.String(length=16), primary_key=True),
        sa.Column("client", sa.String(length=64), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":  # search replicas rebuild a watchlist's index on notice
        op.execute(
            "CREATE FUNCTION overt_gallery_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN PERFORM pg_notify('overt_gallery', NEW.id::text); RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER watchlists_notify AFTER UPDATE OF revision ON watchlists "
            "FOR EACH ROW EXECUTE FUNCTION overt_gallery_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS watchlists_notify ON watchlists")
        op.execute("DROP FUNCTION IF EXISTS overt_gallery_notify()")
    op.drop_table("rate_buckets")
    op.drop_table("console_sessions")
    op.drop_table("cluster_leases")
