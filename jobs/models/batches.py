"""Tables of batches (a file of prompts run as ordinary jobs), schedules and their firings, and
notifications (a hook run once when a job or a batch ends).

Who-does-what is decided here by unique keys, never by hope: a line is recorded once per batch
(`batch_lines` primary key), a schedule fires once per fire time (`schedule_firings` unique
(schedule, fire time)), and a subject is notified once (`notifications` unique subject, claimed with
a compare-and-set on its state).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from jobs.models.job import UTCDateTime


def _utc_column(**kwargs) -> sa.Column:
    return sa.Column(UTCDateTime(), **kwargs)


class Batch(SQLModel, table=True):
    """A file of prompts recorded at once; its lines are jobs (see BatchLine)."""

    __tablename__ = "batches"

    id: str = Field(primary_key=True, max_length=16)
    # The name is the batch's identity: submitting the same name again resumes it and adds only
    # lines it has not seen (a line's identity: its key, else its position and content).
    name: str = Field(max_length=255, unique=True)
    source: str = Field(default="", sa_type=sa.Text)  # the file as given ('-' for stdin)
    content_hash: str = Field(max_length=64)  # sha256 of the file's bytes, last recorded
    line_count: int = 0  # lines recorded (prompts, not blank lines)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=_utc_column())
    schedule_id: int | None = Field(default=None, index=True)  # set when a schedule fired it


class BatchLine(SQLModel, table=True):
    """One line of a batch and the job that runs it."""

    __tablename__ = "batch_lines"

    batch_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
        )
    )
    line_key: str = Field(primary_key=True, max_length=160)  # "key:<key>" or "pos:<n>:<sha256>"
    line_no: int
    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        )
    )
    retries: int = 0  # `batch retry` gave this line a new job this many times
    previous_job_ids: str = Field(default="", sa_type=sa.Text)  # comma-separated, oldest first


class MissedPolicy(StrEnum):
    SKIP = "skip"  # a firing no worker saw on time is recorded as missed, not run
    LATE = "late"  # run once late if a worker sees it within the grace window


class OverlapPolicy(StrEnum):
    SKIP = "skip"  # the previous firing's batch still runs: record this one as skipped
    QUEUE = "queue"  # wait for it to end, then run (at most one waits)
    ALONGSIDE = "alongside"  # run anyway


class Schedule(SQLModel, table=True):
    """A batch file fired on a cron expression in a time zone."""

    __tablename__ = "schedules"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    cron: str = Field(max_length=255)
    timezone: str = Field(default="UTC", max_length=64)
    file: str = Field(sa_type=sa.Text)  # absolute path, read at each firing
    missed: str = Field(default=MissedPolicy.SKIP.value, max_length=16)
    grace_seconds: int = 3600
    overlap: str = Field(default=OverlapPolicy.SKIP.value, max_length=16)
    notify: str | None = Field(default=None, sa_type=sa.Text)
    paused: bool = False
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    # The first fire time not yet dealt with (UTC): a cursor that only moves forward. The unique
    # firing row, not this cursor, is what makes a firing happen at most once.
    next_fire_at: datetime | None = Field(default=None, sa_column=_utc_column(index=True))


class FiringState(StrEnum):
    FIRED = "fired"  # a batch was recorded
    LATE = "late"  # fired late (missed policy `late`)
    MISSED = "missed"  # nobody saw it within the window: not run
    SKIPPED = "skipped"  # overlap policy `skip` (or a second firing waiting behind a queued one)
    QUEUED = "queued"  # overlap policy `queue`: waits for the previous batch
    FAILED = "failed"  # the file was missing or bad at fire time


class ScheduleFiring(SQLModel, table=True):
    """What happened at one fire time of a schedule; unique per (schedule, fire time)."""

    __tablename__ = "schedule_firings"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_firings_fire_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(
        sa_column=sa.Column(
            sa.Integer(), sa.ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False
        )
    )
    fire_time: datetime = Field(sa_column=_utc_column(nullable=False))  # as the cron says
    decided_at: datetime = Field(sa_column=_utc_column(nullable=False))  # when a worker acted
    state: str = Field(max_length=16)
    batch_id: str | None = Field(default=None, max_length=16)
    worker: str = Field(default="", max_length=128)
    detail: str = Field(default="", sa_type=sa.Text)  # why (the file's errors, the overlap, ...)


class NotifyState(StrEnum):
    WAITING = "waiting"  # the job (batch) has not ended yet
    RUNNING = "running"  # claimed by a process that is running the hook now
    SENT = "sent"
    FAILED = "failed"  # the hook failed or timed out (never run again: at most once)


class Notification(SQLModel, table=True):
    """A hook to run once when a job or a batch ends."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("subject_kind", "subject_id", name="uq_notifications_subject"),
        sa.Index("ix_notifications_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_kind: str = Field(max_length=8)  # job | batch
    subject_id: str = Field(max_length=16)
    target: str = Field(sa_type=sa.Text)  # a shell command, or an http(s) URL
    state: str = Field(default=NotifyState.WAITING.value, max_length=16)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = Field(default=None, sa_column=_utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())
    detail: str = Field(default="", sa_type=sa.Text)  # exit status / HTTP status and output
