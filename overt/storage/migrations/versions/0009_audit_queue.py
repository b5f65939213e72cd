"""The audit log's sequencer: writers queue authenticated entries; one integrator at a time chains them

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from overt.storage.models import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_queue",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lane", sa.String(length=40), nullable=False),
        sa.Column("lane_seq", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("mac_key_id", sa.String(length=16), nullable=False),
        sa.UniqueConstraint("lane", "lane_seq", name="uq_audit_queue_lane"),
    )
    # Plain ADD COLUMN (no batch copy): a batch rebuild of the table would drop its append-only triggers.
    op.add_column("audit_log", sa.Column("lane", sa.String(length=40), nullable=True))
    op.add_column("audit_log", sa.Column("lane_seq", sa.Integer(), nullable=True))
    op.create_index("ix_audit_log_lane", "audit_log", ["lane", "lane_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_audit_log_lane", table_name="audit_log")
    op.drop_column("audit_log", "lane_seq")
    op.drop_column("audit_log", "lane")
    op.drop_table("audit_queue")
