"""AS-norm cohort statistics kept with each template

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("templates") as batch:
        batch.add_column(sa.Column("cohort_mean", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cohort_std", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cohort_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("cohort_sha256")
        batch.drop_column("cohort_std")
        batch.drop_column("cohort_mean")
