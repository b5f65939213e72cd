"""Alerts grouped into sightings, idempotency keys, safe stops, and subjects linked as one person

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from overt.storage.models import UtcDateTime

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("open_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("window_ends_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("watchlist_size", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_alerts_key", ["key"])
        batch.create_unique_constraint("uq_alerts_open_key", ["open_key"])
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("same_as", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_subjects_same_as", "subjects", ["same_as"], ["id"], ondelete="SET NULL")
    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("track", sa.Integer(), nullable=True),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False, unique=True),
        sa.Column("crop", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_sightings_alert_id", "sightings", ["alert_id"])
    op.create_table(
        "pauses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment_id", sa.Integer(), sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("resumed_by", sa.String(length=64), nullable=True),
        sa.Column("resumed_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_pauses_deployment_id", "pauses", ["deployment_id"])


def downgrade() -> None:
    op.drop_index("ix_pauses_deployment_id", "pauses")
    op.drop_table("pauses")
    op.drop_index("ix_sightings_alert_id", "sightings")
    op.drop_table("sightings")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint("fk_subjects_same_as", type_="foreignkey")
        batch.drop_column("same_as")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("uq_alerts_open_key", type_="unique")
        batch.drop_constraint("uq_alerts_key", type_="unique")
        batch.drop_column("watchlist_size")
        batch.drop_column("window_ends_at")
        batch.drop_column("open_key")
        batch.drop_column("key")
