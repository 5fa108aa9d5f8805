"""Tables for usage, cost and budgets.

- `job_usage`: what pricing needs beyond the token columns of `jobs` (the service tier, the number
  of search calls), written with the terminal status, and the latest usage seen while a job still
  runs (from a poll or a streamed event), which is what job budgets are checked against.
- `budgets`: a ceiling in tokens and/or US dollars on a job, a batch or a schedule's firing, keyed by
  (kind, ref_id) so that no other table needs a column for it. `tripped_at` records, once, that the
  ceiling was passed and why; enforcement reads it back after a restart.

Full-text search (SQLite FTS5 `job_search`, PostgreSQL GIN indexes) is not a model: it is created by
migration 0005 and kept in step by triggers / expression indexes (see store/queries.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from jobs.models.job import UTCDateTime


class JobUsage(SQLModel, table=True):
    """Per-job usage facts that pricing and budgets need, one row per job (created when needed)."""

    __tablename__ = "job_usage"

    job_id: str = Field(
        sa_column=sa.Column(
            sa.String(16), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    service_tier: str | None = Field(default=None, max_length=32)
    search_calls: int | None = None  # sum of usage.grounding_tool_count[].count
    # The latest usage seen while the job was running (a poll or a streamed event), for budgets.
    live_input_tokens: int | None = None
    live_output_tokens: int | None = None
    live_thought_tokens: int | None = None
    live_cached_tokens: int | None = None
    live_tool_use_tokens: int | None = None
    live_total_tokens: int | None = None
    live_search_calls: int | None = None
    live_source: str | None = Field(default=None, max_length=32)
    live_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class Budget(SQLModel, table=True):
    """A ceiling on a job, a batch or a schedule's firing; either limit may be absent."""

    __tablename__ = "budgets"

    kind: str = Field(primary_key=True, max_length=16)  # job | batch | schedule
    ref_id: str = Field(primary_key=True, max_length=128)
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    tripped_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    tripped_reason: str | None = Field(default=None, sa_type=sa.Text)
