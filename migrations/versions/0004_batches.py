"""Batches, schedules, their firings, and notifications.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Unique keys carry the guarantees: a batch line once per batch, a schedule firing once per fire
time, a notification once per job or batch (see jobs/models/batches.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, *, nullable: bool = True) -> sa.Column:
    # jobs.models.UTCDateTime stores exactly this.
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        _utc("cancelled_at"),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_batches_name"),
    )
    op.create_index("ix_batches_created_at", "batches", ["created_at"])
    op.create_index("ix_batches_schedule_id", "batches", ["schedule_id"])

    op.create_table(
        "batch_lines",
        sa.Column("batch_id", sa.String(16), nullable=False),
        sa.Column("line_key", sa.String(160), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(16), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("previous_job_ids", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "line_key"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name="fk_batch_lines_batch_id_batches", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_batch_lines_job_id_jobs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("job_id", name="uq_batch_lines_job_id"),
    )

    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("missed", sa.String(16), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("overlap", sa.String(16), nullable=False),
        sa.Column("notify", sa.Text(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        _utc("created_at", nullable=False),
        _utc("next_fire_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_schedules_name"),
    )
    op.create_index("ix_schedules_next_fire_at", "schedules", ["next_fire_at"])

    op.create_table(
        "schedule_firings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        _utc("fire_time", nullable=False),
        _utc("decided_at", nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(16), nullable=True),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name="fk_schedule_firings_schedule_id_schedules",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_firings_fire_time"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_kind", sa.String(8), nullable=False),
        sa.Column("subject_id", sa.String(16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _utc("created_at", nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        _utc("claimed_at"),
        _utc("finished_at"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_kind", "subject_id", name="uq_notifications_subject"),
    )
    op.create_index("ix_notifications_state", "notifications", ["state"])


def downgrade() -> None:
    op.drop_index("ix_notifications_state", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("schedule_firings")
    op.drop_index("ix_schedules_next_fire_at", table_name="schedules")
    op.drop_table("schedules")
    op.drop_table("batch_lines")
    op.drop_index("ix_batches_schedule_id", table_name="batches")
    op.drop_index("ix_batches_created_at", table_name="batches")
    op.drop_table("batches")
