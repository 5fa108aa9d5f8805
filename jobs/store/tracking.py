"""Batch-shaped store calls for a worker that holds thousands of jobs at once.

A poll used to be several transactions for one job; at hundreds of polls a second the store wants
one short transaction for many jobs: claim many (for streaming, watched jobs first), renew the
leases of every open stream at once, record many non-terminal polls at once, and many terminal
results at once (`record_terminals`: each job's outputs and usage in the same transaction as its
terminal status, as `JobStore.record_terminal` writes one). The same rules hold as in `jobs.py`:
compare-and-set guards on status and lease owner, terminal states absorbing, `SKIP LOCKED` claims
on PostgreSQL, `BEGIN IMMEDIATE` on SQLite. These hot paths are Core statements (executemany), not
ORM objects: at hundreds of jobs a second the ORM's unit of work was most of the worker's CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from jobs.crash import crash_point
from jobs.db import Database
from jobs.models import (
    POLLABLE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobEvent,
    JobResult,
    JobStatus,
    JobUsage,
    JobWatch,
)
from jobs.store.jobs import TerminalResult, _dumps, _without_copies
from jobs.store.usage import search_calls

_POLLABLE = [s.value for s in POLLABLE_STATUSES]
# A stream is worth opening only for a job that is running; the rest (paused, unknown) are polled.
_STREAMABLE = [JobStatus.QUEUED.value, JobStatus.IN_PROGRESS.value]
_TERMINAL = [s.value for s in TERMINAL_STATUSES]
_JOBS = Job.__table__  # type: ignore[attr-defined]
_RESULTS = JobResult.__table__  # type: ignore[attr-defined]
_USAGE = JobUsage.__table__  # type: ignore[attr-defined]
_EVENTS = JobEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PollOutcome:
    """A non-terminal poll to record: the job as claimed, and what the API said."""

    job: Job
    status: JobStatus
    remote_status: str | None
    remote_updated: datetime | None
    next_poll_at: datetime


@dataclass
class TerminalWrite:
    """One job's terminal status and everything written with it (see JobStore.record_terminal)."""

    job_id: str
    status: JobStatus
    remote_status: str | None
    result: TerminalResult
    usage: dict[str, int | None]  # our usage columns (input_tokens, ...)
    remote_updated: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None


class TrackingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim_for_stream(
        self,
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        *,
        exclude: Sequence[str] = (),
        job_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        """Lease up to `limit` running jobs to follow by stream: watched ones first, then oldest.
        A watched job is streamed at once; another one once it is not due for a poll."""
        if limit <= 0:
            return []
        watched = (
            select(JobWatch.job_id).where(JobWatch.job_id == Job.id, JobWatch.until > now).exists()
        )
        candidates = (
            select(Job.id)
            .where(Job.status.in_(_STREAMABLE), Job.interaction_id.is_not(None))  # type: ignore[attr-defined,union-attr]
            .where(Job.cancel_requested_at.is_(None))  # type: ignore[union-attr]
            .where(sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))  # type: ignore[union-attr]
            # A job due for a poll is polled first (one get tells whether it ended meanwhile; a
            # stream of an ended job replays it all, then needs the get too); a watched one is
            # streamed at once.
            .where(sa.or_(watched, Job.next_poll_at.is_(None), Job.next_poll_at > now))  # type: ignore[union-attr,operator]
        )
        if exclude:
            candidates = candidates.where(Job.id.not_in(list(exclude)))  # type: ignore[attr-defined]
        if job_ids is not None:
            candidates = candidates.where(Job.id.in_(list(job_ids)))  # type: ignore[attr-defined]
        with self.db.read() as session:
            if session.exec(candidates.limit(1)).first() is None:
                return []
        with self.db.write() as session:
            ids = list(
                session.exec(
                    candidates.order_by(sa.case((watched, 0), else_=1), Job.created_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            session.exec(
                sa.update(Job)
                .where(Job.id.in_(ids))  # type: ignore[attr-defined]
                .values(lease_owner=owner, lease_expires_at=lease_until)
            )
            jobs = session.exec(
                select(Job).where(Job.id.in_(ids))  # type: ignore[attr-defined]
            )
            by_id = {job.id: job for job in jobs}
            return [by_id[i] for i in ids if i in by_id]

    def claim_for_submit(
        self, job_ids: Sequence[str], owner: str, now: datetime, lease_until: datetime
    ) -> list[Job]:
        """pending -> submitting for many jobs in one transaction (each still pending, due and
        unowned); the write-ahead step before their creates, which then run at once."""
        if not job_ids:
            return []
        with self.db.write() as session:
            ids = list(
                session.exec(
                    select(Job.id)
                    .where(Job.id.in_(list(job_ids)), Job.status == JobStatus.PENDING.value)  # type: ignore[attr-defined]
                    .where(sa.or_(Job.next_poll_at.is_(None), Job.next_poll_at <= now))  # type: ignore[union-attr]
                    .where(sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))  # type: ignore[union-attr]
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            session.exec(
                sa.update(Job)
                .where(Job.id.in_(ids), Job.status == JobStatus.PENDING.value)  # type: ignore[attr-defined]
                .values(
                    status=JobStatus.SUBMITTING.value,
                    lease_owner=owner,
                    lease_expires_at=lease_until,
                    submit_attempts=Job.submit_attempts + 1,
                )
            )
            for job_id in ids:
                session.add(
                    JobEvent(job_id=job_id, at=now, kind="submitting", detail=f"by {owner}")
                )
            session.flush()
            jobs = {j.id: j for j in session.exec(select(Job).where(Job.id.in_(ids)))}  # type: ignore[attr-defined]
            return [jobs[i] for i in ids if i in jobs]

    def renew(self, owner: str, job_ids: Sequence[str], until: datetime) -> set[str]:
        """Extend our leases on these jobs; returns the ids we still hold (a job may have ended,
        or been taken over after a stall)."""
        if not job_ids:
            return set()
        with self.db.write() as session:
            held = set(
                session.exec(
                    select(Job.id)
                    .where(
                        Job.id.in_(list(job_ids)),  # type: ignore[attr-defined]
                        Job.lease_owner == owner,
                        Job.status.in_(_POLLABLE),  # type: ignore[attr-defined]
                    )
                    .order_by(Job.id)  # rows locked in id order, as every batch here: no deadlock
                    .with_for_update()
                )
            )
            if held:
                session.exec(
                    sa.update(Job)
                    .where(Job.id.in_(list(held)), Job.lease_owner == owner)  # type: ignore[attr-defined]
                    .values(lease_expires_at=until)
                )
            return held

    def release_to_poll(self, owner: str, job_id: str, next_poll_at: datetime) -> bool:
        """Give a job back (its stream stopped without an end): due for a poll at `next_poll_at`."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Job)
                .where(Job.id == job_id, Job.lease_owner == owner, Job.status.in_(_POLLABLE))  # type: ignore[attr-defined]
                .values(lease_owner=None, lease_expires_at=None, next_poll_at=next_poll_at)
            )
            return result.rowcount == 1

    def record_polls(self, owner: str, outcomes: Sequence[PollOutcome], now: datetime) -> int:
        """Many non-terminal polls in one transaction; each releases its lease, guarded by owner
        and a live status. A change of status goes into the job's history. Returns rows written."""
        if not outcomes:
            return 0
        written = 0
        with self.db.write() as session:
            for outcome in sorted(outcomes, key=lambda o: o.job.id):  # rows locked in id order
                result = session.exec(
                    sa.update(Job)
                    .where(
                        Job.id == outcome.job.id,
                        Job.lease_owner == owner,
                        Job.status.in_(_POLLABLE),  # type: ignore[attr-defined]
                    )
                    .values(
                        status=outcome.status.value,
                        remote_status=outcome.remote_status,
                        remote_updated_at=outcome.remote_updated or Job.remote_updated_at,
                        last_polled_at=now,
                        next_poll_at=outcome.next_poll_at,
                        poll_count=Job.poll_count + 1,
                        consecutive_errors=0,
                        lease_owner=None,
                        lease_expires_at=None,
                        error_code=None,
                        error_message=None,
                    )
                )
                if result.rowcount == 1:
                    written += 1
                    if outcome.job.status != outcome.status.value:
                        session.add(
                            JobEvent(
                                job_id=outcome.job.id,
                                at=now,
                                kind=outcome.status.value,
                                detail=f"remote status {outcome.remote_status!r}",
                            )
                        )
        return written

    def record_terminals(
        self, owner: str, writes: Sequence[TerminalWrite], now: datetime
    ) -> set[str]:
        """Many live jobs -> their terminal status, each with its outputs, thoughts, steps and
        usage, in one transaction. A job is written only while it is live and leased by `owner`
        (rows locked first on PostgreSQL; SQLite's write lock is held from BEGIN IMMEDIATE), so a
        terminal state is never overwritten. Returns the ids written; the others had ended or been
        taken over meanwhile. A statement error fails the whole transaction (nothing written):
        the caller writes those jobs one at a time to isolate a bad one."""
        if not writes:
            return set()
        by_id = {w.job_id: w for w in writes}
        with self.db.write() as session:
            held = set(
                session.execute(
                    sa.select(_JOBS.c.id)
                    .where(
                        _JOBS.c.id.in_(list(by_id)),
                        _JOBS.c.status.not_in(_TERMINAL),
                        _JOBS.c.lease_owner == owner,
                    )
                    # PostgreSQL: locked in id order, as every batch of this worker locks its rows
                    # (renew, record_polls, the stream statuses), so two never wait on each other
                    .order_by(_JOBS.c.id)
                    .with_for_update()
                ).scalars()
            )
            if not held:
                return set()
            ordered = [by_id[i] for i in by_id if i in held]
            usage_columns = sorted({k for w in ordered for k in w.usage})
            values: dict[str, Any] = {
                "status": sa.bindparam("t_status"),
                "remote_status": sa.bindparam("t_remote_status"),
                "finished_at": now,
                "last_polled_at": now,
                "next_poll_at": None,
                "poll_count": _JOBS.c.poll_count + 1,
                "remote_updated_at": sa.func.coalesce(
                    sa.bindparam("t_remote_updated", type_=_JOBS.c.remote_updated_at.type),
                    _JOBS.c.remote_updated_at,
                ),
                "lease_owner": None,
                "lease_expires_at": None,
                "consecutive_errors": 0,
                "error_code": sa.bindparam("t_error_code"),
                "error_message": sa.bindparam("t_error_message"),
                "output_chars": sa.bindparam("t_output_chars"),
            }
            values |= {c: sa.bindparam(f"t_u_{c}", type_=_JOBS.c[c].type) for c in usage_columns}
            session.execute(
                sa.update(_JOBS)
                .where(
                    _JOBS.c.id == sa.bindparam("t_id"),
                    # literals, not one expanding parameter: executemany cannot expand
                    _JOBS.c.status.not_in([sa.literal(v) for v in _TERMINAL]),
                    _JOBS.c.lease_owner == owner,
                )
                .values(values),
                [
                    {
                        "t_id": w.job_id,
                        "t_status": w.status.value,
                        "t_remote_status": w.remote_status,
                        "t_remote_updated": w.remote_updated,
                        "t_error_code": w.error_code,
                        "t_error_message": w.error_message,
                        "t_output_chars": len(w.result.output_text),
                    }
                    | {f"t_u_{c}": w.usage.get(c) for c in usage_columns}
                    for w in ordered
                ],
            )
            ids = [w.job_id for w in ordered]
            # A result row may be there from an earlier run of the job: replaced whole (a merge).
            session.execute(sa.delete(_RESULTS).where(_RESULTS.c.job_id.in_(ids)))
            session.execute(sa.insert(_RESULTS), [_result_row(w) for w in ordered])
            session.execute(_usage_upsert(self.db.dialect), [_usage_row(w) for w in ordered])
            session.execute(
                sa.insert(_EVENTS),
                [
                    {
                        "job_id": w.job_id,
                        "at": now,
                        "kind": w.status.value,
                        "detail": (w.error_message or f"remote status {w.remote_status!r}")[:2000],
                    }
                    for w in ordered
                ],
            )
            crash_point("store.terminal_uncommitted")
            return set(ids)


def _result_row(w: TerminalWrite) -> dict[str, Any]:
    result = w.result
    return {
        "job_id": w.job_id,
        "output_text": result.output_text,
        "thoughts_json": _dumps(result.thoughts or []),
        "steps_json": _dumps(result.steps or []),
        "usage_json": _dumps(result.usage or {}),
        "errors_json": _dumps(result.errors or []),
        "raw_json": _dumps(_without_copies(result.raw or {})),
    }


def _usage_row(w: TerminalWrite) -> dict[str, Any]:
    """The service tier the API says it used, and the search calls (as `usage.record_final`)."""
    tier = (w.result.raw or {}).get("service_tier")
    return {
        "job_id": w.job_id,
        "service_tier": tier if isinstance(tier, str) and tier else None,
        "search_calls": search_calls(w.result.usage),
    }


def _usage_upsert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(_USAGE)
    return statement.on_conflict_do_update(
        index_elements=[_USAGE.c.job_id],
        set_={
            # a tier known before (a live poll) is kept when the final resource names none
            "service_tier": sa.func.coalesce(
                statement.excluded.service_tier, _USAGE.c.service_tier
            ),
            "search_calls": statement.excluded.search_calls,
        },
    )
