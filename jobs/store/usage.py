"""Writes and reads for usage facts and budgets (tables in models/usage.py).

- `record_final(session, ...)` runs inside JobStore.record_terminal's transaction: the service tier
  and search-call count are stored with the terminal status and the tokens, never apart from them.
- `record_live` keeps the latest usage seen while a job runs (a poll, a streamed event): budgets
  are checked against it.
- Budgets: one row per (kind, ref_id); `trip` is a compare-and-set (tripped_at IS NULL), so two
  workers enforcing at once trip a budget once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from jobs.db import Database
from jobs.models import Budget, Job, JobEvent, JobRequest, JobUsage
from jobs.status import POLLABLE_STATUSES, JobStatus

LIVE_STATUSES = [s.value for s in POLLABLE_STATUSES] + [JobStatus.SUBMITTING.value]

# Our names for the API's usage keys (jobs.gateway.USAGE_FIELDS has the same mapping for the jobs
# columns; repeated here to keep this module free of the SDK's import).
_USAGE_KEYS = {
    "input": "total_input_tokens",
    "output": "total_output_tokens",
    "thought": "total_thought_tokens",
    "cached": "total_cached_tokens",
    "tool_use": "total_tool_use_tokens",
    "total": "total_tokens",
}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def search_calls(usage: dict[str, Any] | None) -> int | None:
    """The sum of usage.grounding_tool_count[].count; None when the API reported none."""
    counts = (usage or {}).get("grounding_tool_count")
    if not isinstance(counts, list):
        return None
    total = 0
    for item in counts:
        if isinstance(item, dict) and (count := _int(item.get("count"))) is not None:
            total += count
    return total


def usage_figures(usage: dict[str, Any] | None) -> dict[str, int | None]:
    """{input, output, thought, cached, tool_use, total} from an API usage object (missing: None)."""
    usage = usage or {}
    return {ours: _int(usage.get(theirs)) for ours, theirs in _USAGE_KEYS.items()}


def record_final(
    session: Session, job_id: str, usage: dict[str, Any] | None, raw: dict[str, Any] | None
) -> None:
    """Inside the terminal write: the service tier the API says it used, and the search calls."""
    tier = (raw or {}).get("service_tier")
    row = session.get(JobUsage, job_id) or JobUsage(job_id=job_id)
    row.service_tier = tier if isinstance(tier, str) and tier else row.service_tier
    row.search_calls = search_calls(usage)
    session.add(row)


@dataclass
class BudgetedJob:
    """A live job with a budget that has not tripped yet, and the usage known so far."""

    budget: Budget
    job_id: str
    target: str
    status: str
    created_at: datetime
    service_tier: str | None
    tokens: dict[str, int]
    search_calls: int
    seen: bool  # any usage known at all


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- live usage --------------------------------------------------------------------------------

    def record_live(
        self, job_id: str, usage: dict[str, Any], *, source: str, now: datetime
    ) -> bool:
        """Keep the latest usage seen for a running job; figures only ever grow (a partial event
        never lowers what a poll reported)."""
        figures = usage_figures(usage)
        searches = search_calls(usage)
        if all(v is None for v in figures.values()) and searches is None:
            return False
        with self.db.write() as session:
            if session.get(Job, job_id) is None:
                return False
            row = session.get(JobUsage, job_id) or JobUsage(job_id=job_id)
            for kind, value in figures.items():
                if value is not None:
                    name = f"live_{kind}_tokens"
                    setattr(row, name, max(value, getattr(row, name) or 0))
            if searches is not None:
                row.live_search_calls = max(searches, row.live_search_calls or 0)
            row.live_source, row.live_at = source, now
            session.add(row)
        return True

    # -- budgets -----------------------------------------------------------------------------------

    def set_budget(
        self,
        kind: str,
        ref_id: str,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
        now: datetime,
    ) -> Budget:
        with self.db.write() as session:
            budget = session.get(Budget, (kind, ref_id)) or Budget(
                kind=kind, ref_id=ref_id, created_at=now
            )
            budget.max_tokens, budget.max_cost_usd = max_tokens, max_cost_usd
            budget.tripped_at = budget.tripped_reason = None
            session.add(budget)
            if kind == "job":
                session.add(JobEvent(job_id=ref_id, at=now, kind="budget", detail=describe(budget)))
            return budget

    def budget_refs(self, kind: str) -> list[str]:
        """The ids of every budget of a kind (e.g. every batch that has a ceiling)."""
        with self.db.read() as session:
            return list(session.exec(select(Budget.ref_id).where(Budget.kind == kind)))

    def get_budget(self, kind: str, ref_id: str) -> Budget | None:
        with self.db.read() as session:
            return session.get(Budget, (kind, ref_id))

    def trip(self, kind: str, ref_id: str, reason: str, now: datetime) -> bool:
        """Mark a budget exceeded, once; for a job, also note it in its history."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Budget)
                .where(Budget.kind == kind, Budget.ref_id == ref_id, Budget.tripped_at.is_(None))  # type: ignore[union-attr]
                .values(tripped_at=now, tripped_reason=reason)
            )
            if result.rowcount != 1:
                return False
            if kind == "job":
                session.add(JobEvent(job_id=ref_id, at=now, kind="budget_exceeded", detail=reason))
            return True

    def budget_work(self) -> tuple[list[BudgetedJob], list[str]]:
        """In one read transaction (a worker asks every pass): running jobs whose budget has not
        tripped, with their usage so far; and running jobs whose budget tripped but that have no
        cancel requested (the request was lost, e.g. the store refused it), to ask again."""
        live = (
            select(Budget, Job, JobUsage, self._requested_tier())
            .join(Job, Job.id == Budget.ref_id)
            .outerjoin(JobUsage, JobUsage.job_id == Job.id)
            .outerjoin(JobRequest, JobRequest.job_id == Job.id)
            .where(Budget.kind == "job", Budget.tripped_at.is_(None))  # type: ignore[union-attr]
            .where(Job.status.in_(LIVE_STATUSES))  # type: ignore[attr-defined]
        )
        tripped = (
            select(Job.id)
            .join(Budget, sa.and_(Budget.ref_id == Job.id, Budget.kind == "job"))
            .where(Budget.tripped_at.is_not(None), Job.cancel_requested_at.is_(None))  # type: ignore[union-attr]
            .where(Job.status.in_(LIVE_STATUSES))  # type: ignore[attr-defined]
        )
        with self.db.read() as session:
            jobs = [_budgeted(b, j, u, tier) for b, j, u, tier in session.exec(live)]
            return jobs, list(session.exec(tripped))

    def _requested_tier(self) -> Any:
        """The `service_tier` of the stored request, read by the database (the request, which
        can be 50 MB, is not sent to this process)."""
        if self.db.dialect == "sqlite":
            return sa.case(
                (
                    sa.func.json_valid(JobRequest.request_json),
                    sa.func.json_extract(JobRequest.request_json, "$.service_tier"),
                ),
                else_=None,
            )
        return sa.literal_column("(job_requests.request_json::jsonb ->> 'service_tier')")

    def jobs_usage(self, job_ids: Sequence[str]) -> list[tuple[Job, JobUsage | None]]:
        """Jobs with their usage facts (for batch and schedule ceilings)."""
        if not job_ids:
            return []
        query = (
            select(Job, JobUsage)
            .outerjoin(JobUsage, JobUsage.job_id == Job.id)
            .where(Job.id.in_(list(job_ids)))  # type: ignore[attr-defined]
        )
        with self.db.read() as session:
            return list(session.exec(query))


def _budgeted(budget: Budget, job: Job, usage: JobUsage | None, requested_tier: Any) -> BudgetedJob:
    tokens = {}
    seen = False
    for kind in ("input", "output", "thought", "cached", "tool_use", "total"):
        value = getattr(usage, f"live_{kind}_tokens", None) if usage else None
        seen = seen or value is not None
        tokens[kind] = int(value or 0)
    tier = usage.service_tier if usage else None
    if tier is None and isinstance(requested_tier, str):
        tier = requested_tier
    return BudgetedJob(
        budget=budget,
        job_id=job.id,
        target=job.target,
        status=job.status,
        created_at=job.created_at,
        service_tier=tier,
        tokens=tokens,
        search_calls=int((usage.live_search_calls if usage else 0) or 0),
        seen=seen,
    )


def describe(budget: Budget) -> str:
    """`50,000 tokens`, `$1.50`, or both."""
    parts = []
    if budget.max_tokens is not None:
        parts.append(f"{budget.max_tokens:,} tokens")
    if budget.max_cost_usd is not None:
        cost = budget.max_cost_usd
        parts.append(f"${cost:,.2f}" if cost >= 0.01 else f"${cost:g}")
    return " or ".join(parts) or "no limit"
