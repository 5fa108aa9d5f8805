"""SQLModel tables and the job status enum.

The schema is changed only through Alembic migrations (migrations/); a test checks that the migrations
build exactly these tables. Large payloads live apart from `jobs`: the request as sent in
`job_requests` (written once, when the job is recorded), outputs, steps and raw JSON in
`job_results`. So listing thousands of jobs never reads a megabyte-sized report, and a change of a
job's status (a small row) never rewrites a 50 MB prompt: SQLite rewrites a whole row, with its
overflow pages, on any update of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from jobs.status import (  # noqa: F401  (re-exported: jobs.models is where callers look)
    _ID_ALPHABET,
    POLLABLE_STATUSES,
    TERMINAL_STATUSES,
    JobStatus,
    new_job_id,
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use the Clock")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_column(**kwargs) -> sa.Column:
    return sa.Column(UTCDateTime(), **kwargs)


class Job(SQLModel, table=True):
    """One job: what was asked, where it stands, and the small figures a listing needs."""

    __tablename__ = "jobs"

    id: str = Field(primary_key=True, max_length=16)
    interaction_id: str | None = Field(default=None, max_length=255, unique=True)
    model: str | None = Field(default=None, max_length=255)
    agent: str | None = Field(default=None, max_length=255)
    prompt_excerpt: str = Field(default="", max_length=200)
    labels_json: str = Field(default="{}", sa_type=sa.Text)
    previous_interaction_id: str | None = Field(default=None, max_length=255)
    parent_job_id: str | None = Field(default=None, max_length=16, index=True)

    status: str = Field(default=JobStatus.PENDING.value, max_length=32, index=True)
    remote_status: str | None = Field(default=None, max_length=64)

    created_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    submitted_at: datetime | None = Field(default=None, sa_column=_utc_column())
    remote_created_at: datetime | None = Field(default=None, sa_column=_utc_column())
    remote_updated_at: datetime | None = Field(default=None, sa_column=_utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())
    last_polled_at: datetime | None = Field(default=None, sa_column=_utc_column())
    next_poll_at: datetime | None = Field(default=None, sa_column=_utc_column(index=True))

    poll_count: int = Field(default=0)
    submit_attempts: int = Field(default=0)
    consecutive_errors: int = Field(default=0)
    error_code: str | None = Field(default=None, max_length=255)
    error_message: str | None = Field(default=None, sa_type=sa.Text)

    # Leases: which process owns the job right now (submitting or polling it), and until when.
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = Field(default=None, sa_column=_utc_column())

    cancel_requested_at: datetime | None = Field(default=None, sa_column=_utc_column())
    cancel_sent_at: datetime | None = Field(default=None, sa_column=_utc_column())

    input_tokens: int | None = None
    output_tokens: int | None = None
    thought_tokens: int | None = None
    cached_tokens: int | None = None
    tool_use_tokens: int | None = None
    total_tokens: int | None = None
    output_chars: int | None = None

    @property
    def job_status(self) -> JobStatus:
        return JobStatus(self.status)

    def __init__(
        self, request_json: str | None = None, request_input: Any = None, **data: Any
    ) -> None:
        super().__init__(**data)
        if request_json is not None:
            self.attach_request(request_json, request_input)

    def attach_request(
        self, request_json: str, request_input: Any = None, *, body: dict | None = None
    ) -> None:
        """The request a job being built carries until the store inserts it, with its `input`
        when the caller has it at hand (a text prompt is then digested and indexed from it, not
        parsed out of the JSON again), and the body it is the JSON of (which shares the prompt:
        sending it costs no second copy)."""
        self.__dict__["_request_json"] = request_json
        self.__dict__["_request_input"] = request_input if isinstance(request_input, str) else None
        self.__dict__["_request_body"] = body

    def take_request_body(self) -> dict | None:
        """The body attached by attach_request (once), or None."""
        return self.__dict__.pop("_request_body", None)

    def detach_request(self) -> None:
        """Forget the request carried (the store keeps it): a 50 MB prompt is not held twice."""
        self.__dict__.pop("_request_json", None)
        self.__dict__.pop("_request_input", None)

    # The create body, which lives in `job_requests` (JobRequest). A job being built carries it
    # until the store inserts it; a job read with JobStore.get_job reads it on first use (one
    # query); any other loaded job (listings, claims: the hot paths) does not have it, and using
    # it there is a bug, reported as such. Kept out of the pydantic fields and the mapped
    # columns: it is never part of an update of the `jobs` row.
    @property
    def request_json(self) -> str:
        """The create body exactly as sent (without `background`, always true), as JSON."""
        state = self.__dict__
        if "_request_json" not in state:
            loader = state.get("_request_loader")
            if loader is None and not sa.inspect(self).has_identity:
                return "{}"  # a job built without a request (never stored): an empty one
            if loader is None:
                raise RequestNotLoaded(
                    f"job {self.id}: its request was not loaded (read it with "
                    "JobStore.request_of, or get the job with JobStore.get_job)"
                )
            state["_request_json"] = loader()
        return state["_request_json"]

    @request_json.setter
    def request_json(self, value: str) -> None:
        self.attach_request(value)

    def has_request(self) -> bool:
        """True when `request_json` is at hand (set, or loadable) without raising."""
        return "_request_json" in self.__dict__ or "_request_loader" in self.__dict__

    def load_request_with(self, loader) -> None:
        """How `request_json` is read on first use (the store sets this)."""
        self.__dict__["_request_loader"] = loader

    @property
    def target(self) -> str:
        """The model or agent, for display."""
        return self.agent or self.model or ""


class RequestNotLoaded(RuntimeError):
    """`Job.request_json` of a job loaded without its request (a programming error)."""


class JobRequest(SQLModel, table=True):
    """The create body of a job, exactly as sent: inserted with the job, never updated by a
    change of the job's status (only when the body itself changes: a turn queued behind one
    still being created gets the previous interaction id at send time)."""

    __tablename__ = "job_requests"

    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    # jobs.payloads.input_digest of a text prompt: lets the terminal write recognise the API's
    # echo of the prompt without reading the request. Before request_json, so that SQLite reads
    # it without the large value's overflow pages.
    input_sha256: str | None = Field(default=None, max_length=64)
    request_json: str = Field(default="{}", sa_type=sa.Text)


class JobLabel(SQLModel, table=True):
    """Labels, one row each, so `--label k=v` filters with an indexed, parameterised query."""

    __tablename__ = "job_labels"
    __table_args__ = (sa.Index("ix_job_labels_key_value", "key", "value"),)

    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    key: str = Field(primary_key=True, max_length=255)
    value: str = Field(max_length=1024)


class JobResult(SQLModel, table=True):
    """What a terminal job returned. Written in the same transaction as the terminal status."""

    __tablename__ = "job_results"

    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    output_text: str = Field(default="", sa_type=sa.Text)
    thoughts_json: str = Field(default="[]", sa_type=sa.Text)  # list of thought-summary texts
    steps_json: str = Field(default="[]", sa_type=sa.Text)  # the steps as returned
    usage_json: str = Field(default="{}", sa_type=sa.Text)  # the full usage object
    errors_json: str = Field(default="[]", sa_type=sa.Text)
    raw_json: str = Field(default="{}", sa_type=sa.Text)  # the last interaction resource, verbatim


class JobEvent(SQLModel, table=True):
    """An append-only history of what happened to a job (shown by `jobs show`)."""

    __tablename__ = "job_events"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    at: datetime = Field(sa_column=_utc_column(nullable=False))
    kind: str = Field(max_length=64)
    detail: str = Field(default="", sa_type=sa.Text)


class Worker(SQLModel, table=True):
    """A worker process, for `jobs doctor` and lease diagnostics."""

    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=128)
    hostname: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(sa_column=_utc_column(nullable=False))
    heartbeat_at: datetime = Field(sa_column=_utc_column(nullable=False))
    stopped_at: datetime | None = Field(default=None, sa_column=_utc_column())
