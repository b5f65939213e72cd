"""Authenticated audit records (MAC), Merkle tree nodes and signed tree heads

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): a batch rebuild of the table would drop its append-only triggers.
    op.add_column("audit_log", sa.Column("mac", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("mac_key_id", sa.String(length=16), nullable=True))
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])
    op.add_column("audit_checkpoints", sa.Column("root", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    bind = op.get_bind()
    _tree_of_existing_records(bind)
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_tree_no_{verb.lower()} BEFORE {verb} ON audit_tree "
                "BEGIN SELECT RAISE(ABORT, 'audit_tree is append-only'); END"
            )
    else:
        op.execute(
            "CREATE TRIGGER audit_tree_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_tree "
            "FOR EACH STATEMENT EXECUTE FUNCTION overt_append_only()"
        )


def _tree_of_existing_records(bind: sa.Connection) -> None:
    """Records written before this version join the Merkle tree like any others."""
    from overt.audit.merkle import Frontier, leaf_hash

    frontier, rows = Frontier(), []
    for (hash_,) in bind.execute(sa.text("SELECT hash FROM audit_log ORDER BY seq")):
        rows += [{"level": level, "idx": idx, "hash": h.hex()} for (level, idx), h in frontier.append(
            leaf_hash(bytes.fromhex(hash_)))]
    if rows:
        bind.execute(sa.text("INSERT INTO audit_tree (level, idx, hash) VALUES (:level, :idx, :hash)"), rows)


def downgrade() -> None:
    op.drop_table("audit_tree")
    op.drop_column("audit_checkpoints", "root")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    op.drop_column("audit_log", "mac_key_id")
    op.drop_column("audit_log", "mac")
