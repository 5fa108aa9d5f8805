"""Batch-shaped store calls for a worker that holds thousands of jobs at once.

A poll used to be several transactions for one job; at hundreds of polls a second the store wants
one short transaction for many jobs: claim many (for streaming, watched jobs first), renew the
leases of every open stream at once, record many non-terminal polls at once. The same rules hold
as in `jobs.py`: compare-and-set guards on status and lease owner, terminal states absorbing
(terminal writes still go one job at a time through `JobStore.record_terminal`), `SKIP LOCKED`
claims on PostgreSQL, `BEGIN IMMEDIATE` on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database
from jobs.models import POLLABLE_STATUSES, Job, JobEvent, JobStatus, JobWatch

_POLLABLE = [s.value for s in POLLABLE_STATUSES]
# A stream is worth opening only for a job that is running; the rest (paused, unknown) are polled.
_STREAMABLE = [JobStatus.QUEUED.value, JobStatus.IN_PROGRESS.value]


@dataclass(frozen=True)
class PollOutcome:
    """A non-terminal poll to record: the job as claimed, and what the API said."""

    job: Job
    status: JobStatus
    remote_status: str | None
    remote_updated: datetime | None
    next_poll_at: datetime


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
        A stream is opened at once, whatever the poll pacing says."""
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
                    select(Job.id).where(
                        Job.id.in_(list(job_ids)),  # type: ignore[attr-defined]
                        Job.lease_owner == owner,
                        Job.status.in_(_POLLABLE),  # type: ignore[attr-defined]
                    )
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
            for outcome in outcomes:
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
