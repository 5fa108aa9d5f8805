"""The event journal: every streamed event of a job, once, in order; who is watching.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`interaction_events` keeps each SSE event as received (seq = arrival order; (job_id, event_id)
unique where event_id is set, so an event delivered twice is stored once). `job_watches` marks the
jobs someone follows, which the worker streams first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interaction_events",
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("job_id", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_interaction_events_job_seq", "interaction_events", ["job_id", "seq"])
    op.create_index(
        "ux_interaction_events_job_event",
        "interaction_events",
        ["job_id", "event_id"],
        unique=True,
        sqlite_where=sa.text("event_id IS NOT NULL"),
        postgresql_where=sa.text("event_id IS NOT NULL"),
    )
    op.create_table(
        "job_watches",
        sa.Column("job_id", sa.String(16), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade() -> None:
    op.drop_table("job_watches")
    op.drop_index("ux_interaction_events_job_event", table_name="interaction_events")
    op.drop_index("ix_interaction_events_job_seq", table_name="interaction_events")
    op.drop_table("interaction_events")
