"""Live objects, their labels, the revision log and the revision counter.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def key(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("resource", key(128), nullable=False),
        sa.Column("namespace", key(63), nullable=False),
        sa.Column("name", key(253), nullable=False),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("resource_version", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("resource", "namespace", "name", name="pk_objects"),
    )
    op.create_table(
        "labels",
        sa.Column("resource", key(128), nullable=False),
        sa.Column("namespace", key(63), nullable=False),
        sa.Column("name", key(253), nullable=False),
        sa.Column("key", key(317), nullable=False),
        sa.Column("value", key(63), nullable=False),
        sa.Column("num_value", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("resource", "namespace", "name", "key", name="pk_labels"),
    )
    op.create_index("ix_labels_key_value", "labels", ["resource", "key", "value"])
    op.create_table(
        "changes",
        sa.Column("rv", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("resource", key(128), nullable=False),
        sa.Column("namespace", key(63), nullable=False),
        sa.Column("name", key(253), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_body", sa.Text, nullable=True),
        sa.Column("committed_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_changes_key", "changes", ["resource", "namespace", "name", "rv"])
    op.create_index("ix_changes_committed_at", "changes", ["committed_at"])
    revision_table = op.create_table(
        "revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("current", sa.BigInteger, nullable=False),
        sa.Column("compacted", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(revision_table, [{"id": 1, "current": 0, "compacted": 0}])


def downgrade() -> None:
    op.drop_table("revision")
    op.drop_index("ix_changes_committed_at", "changes")
    op.drop_index("ix_changes_key", "changes")
    op.drop_table("changes")
    op.drop_index("ix_labels_key_value", "labels")
    op.drop_table("labels")
    op.drop_table("objects")
