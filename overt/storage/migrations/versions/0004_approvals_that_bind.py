"""Approvals that bind (#13): snapshots, persons and countersignatures, documents, assignments, daily figures

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from overt.storage.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("person", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("countersigned_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("deployment_id", sa.Integer(), nullable=True))
        batch.create_index("ix_subjects_deployment_id", ["deployment_id"])
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("snapshot", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("snapshot_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("drift", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("urgent_first_at", UtcDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("outcome_kind", sa.String(length=24), nullable=False, server_default=""))
    op.create_table(
        "assessment_documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment_id", sa.Integer(), sa.ForeignKey("deployments.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deployment_assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment_id", sa.Integer(), sa.ForeignKey("deployments.id"), nullable=False, index=True),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("deployment_id", "user_name"),
    )
    op.create_table(
        "deployment_days",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment_id", sa.Integer(), sa.ForeignKey("deployments.id"), nullable=False, index=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("watchlist_size", sa.Integer(), nullable=False),
        sa.Column("reviewers_required", sa.Integer(), nullable=False),
        sa.UniqueConstraint("deployment_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("deployment_days")
    op.drop_table("deployment_assignments")
    op.drop_table("assessment_documents")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("outcome_kind")
    with op.batch_alter_table("deployments") as batch:
        for column in ("urgent_first_at", "drift", "snapshot_sha256", "snapshot"):
            batch.drop_column(column)
    with op.batch_alter_table("subjects") as batch:
        batch.drop_index("ix_subjects_deployment_id")
        batch.drop_column("deployment_id")
    with op.batch_alter_table("users") as batch:
        for column in ("countersigned_by", "status", "person"):
            batch.drop_column(column)
