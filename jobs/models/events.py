"""The event journal: every streamed event of a job, stored once, in arrival order; and who watches.

`interaction_events.seq` is the global arrival order (a live page tails it, and the SSE id it sends
a browser is the seq, so Last-Event-ID resumes exactly). `event_id` is the API's resume token; it is
unique per job, so an event the service delivers twice is stored once. `payload` is the event's
JSON text exactly as received: unknown event types and fields are data, never an error.

`job_watches` marks jobs someone is following (`jobs follow`, the web page) until a time: the worker
streams those first.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from jobs.models.job import UTCDateTime


class InteractionEvent(SQLModel, table=True):
    """One SSE event of a job's interaction, as received."""

    __tablename__ = "interaction_events"
    __table_args__ = (
        sa.Index("ix_interaction_events_job_seq", "job_id", "seq"),
        sa.Index(
            "ux_interaction_events_job_event",
            "job_id",
            "event_id",
            unique=True,
            sqlite_where=sa.text("event_id IS NOT NULL"),
            postgresql_where=sa.text("event_id IS NOT NULL"),
        ),
    )

    seq: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    )
    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        )
    )
    event_id: str | None = Field(default=None, max_length=255)
    event_type: str = Field(max_length=255)
    payload: str = Field(sa_type=sa.Text)
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class JobWatch(SQLModel, table=True):
    """Someone follows this job until `until`: stream it before the others."""

    __tablename__ = "job_watches"

    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    until: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
