"""Data-subject requests (with the requester's encrypted photo) and complaints from the public

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import overt.storage.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC = overt.storage.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("identity_ref", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("legal_ground", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", UTC, nullable=False),
        sa.Column("deadline", UTC, nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("done", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subject_requests_kind", "subject_requests", ["kind"])
    op.create_index("ix_subject_requests_status", "subject_requests", ["status"])
    op.create_table(
        "request_photos",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("when", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("attachment", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("triage_note", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("handled_by", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("answered_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_complaints_status", "complaints", ["status"])


def downgrade() -> None:
    op.drop_table("complaints")
    op.drop_table("request_photos")
    op.drop_table("subject_requests")
