"""Queries of batches and their lines.

A batch is recorded in ONE write transaction: the batch row, every line's job (`pending`, the
write-ahead state), its labels and history, and the line rows. So a batch is either fully recorded
or not at all, and nothing is sent before it is. A line's identity (`line_key`) is unique per batch:
recording the same file again adds only the lines the batch has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from jobs.db import Database
from jobs.errors import JobsError
from jobs.models import (
    TERMINAL_STATUSES,
    Batch,
    BatchLine,
    Job,
    JobEvent,
    JobLabel,
    JobStatus,
    Notification,
    new_job_id,
)
from jobs.store.jobs import add_request

# A batch is live while any of its lines may still move on without the user.
LIVE_STATUSES = frozenset(
    {
        JobStatus.PENDING,
        JobStatus.SUBMITTING,
        JobStatus.QUEUED,
        JobStatus.IN_PROGRESS,
        JobStatus.UNKNOWN,
    }
)
_LIVE = [s.value for s in LIVE_STATUSES]
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


class BatchNotFound(JobsError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"no batch {batch_id!r} (see `gjobs batch list`)")


@dataclass
class NewLine:
    """A validated line, ready to be recorded as a job."""

    line_no: int
    line_key: str
    job: Job
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchCounts:
    by_status: dict[str, int] = field(default_factory=dict)
    total_tokens: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def count(self, *statuses: JobStatus) -> int:
        return sum(self.by_status.get(s.value, 0) for s in statuses)

    @property
    def live(self) -> int:
        return self.count(*LIVE_STATUSES)

    @property
    def completed(self) -> int:
        return self.count(JobStatus.COMPLETED)

    @property
    def running(self) -> int:
        return self.count(JobStatus.SUBMITTING, JobStatus.QUEUED, JobStatus.IN_PROGRESS)

    @property
    def not_completed(self) -> int:
        """Lines that ended (or stopped) without completing: failed, cancelled, unknown, ..."""
        return self.total - self.live - self.completed


class BatchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- recording ---------------------------------------------------------------------------------

    def record(
        self,
        batch: Batch,
        lines: Sequence[NewLine],
        now: datetime,
        *,
        notify_target: str | None = None,
        guard: Callable[[Session], bool] | None = None,
        after: Callable[[Session, Batch], None] | None = None,
    ) -> tuple[Batch | None, list[NewLine]]:
        """Record a batch (new, or more lines of an existing one) and its new lines' jobs, all in
        one transaction. Lines whose identity the batch already has are left out; returns the batch
        and the lines actually added.

        `guard` runs first in the same transaction (a schedule claims its firing there): when it
        says no, nothing is written and the batch returned is None. `after` runs last."""
        source, content_hash = batch.source, batch.content_hash
        with self.db.write() as session:
            if guard is not None and not guard(session):
                return None, []
            existing = session.exec(select(Batch).where(Batch.name == batch.name)).first()
            if existing is None:
                batch.id = _free_id(session, Batch, batch.id)
                session.add(batch)
                session.flush()
                known: set[str] = set()
            else:
                batch = existing
                known = set(
                    session.exec(select(BatchLine.line_key).where(BatchLine.batch_id == batch.id))
                )
            added = [line for line in lines if line.line_key not in known]
            _assign_free_job_ids(session, [line.job for line in added])
            for line in added:
                line.job.labels_json = _dumps(line.labels)
                session.add(line.job)
            session.flush()
            for line in added:
                job = line.job
                add_request(session, job)
                for key, value in line.labels.items():
                    session.add(JobLabel(job_id=job.id, key=key, value=value))
                session.add(
                    JobEvent(
                        job_id=job.id,
                        at=now,
                        kind="recorded",
                        detail=f"{job.target} (batch {batch.id} line {line.line_no})",
                    )
                )
                session.add(
                    BatchLine(
                        batch_id=batch.id,
                        line_key=line.line_key,
                        line_no=line.line_no,
                        job_id=job.id,
                    )
                )
            session.flush()
            batch.line_count = session.exec(
                select(sa.func.count()).select_from(BatchLine).where(BatchLine.batch_id == batch.id)
            ).one()
            batch.source, batch.content_hash, batch.updated_at = source, content_hash, now
            if (
                notify_target
                and not session.exec(
                    select(Notification.id).where(
                        Notification.subject_kind == "batch", Notification.subject_id == batch.id
                    )
                ).first()
            ):
                session.add(
                    Notification(
                        subject_kind="batch",
                        subject_id=batch.id,
                        target=notify_target,
                        created_at=now,
                    )
                )
            if after is not None:
                session.flush()
                after(session, batch)
            return batch, added

    def replace_line_job(
        self,
        batch_id: str,
        line_key: str,
        old_job_id: str,
        job: Job,
        labels: dict[str, str],
        now: datetime,
    ) -> bool:
        """`batch retry`: the line gets a new pending job, if it still has `old_job_id`."""
        try:
            return self._replace_line_job(batch_id, line_key, old_job_id, job, labels, now)
        except _Conflict:
            return False

    def _replace_line_job(
        self,
        batch_id: str,
        line_key: str,
        old_job_id: str,
        job: Job,
        labels: dict[str, str],
        now: datetime,
    ) -> bool:
        with self.db.write() as session:
            line = session.get(BatchLine, (batch_id, line_key))
            if line is None or line.job_id != old_job_id:
                return False
            _assign_free_job_ids(session, [job])
            job.labels_json = _dumps(labels)
            session.add(job)
            session.flush()
            add_request(session, job)
            for key, value in labels.items():
                session.add(JobLabel(job_id=job.id, key=key, value=value))
            session.add(
                JobEvent(
                    job_id=job.id,
                    at=now,
                    kind="recorded",
                    detail=f"{job.target} (batch {batch_id} line {line.line_no}, retry of {old_job_id})",
                )
            )
            previous = [p for p in line.previous_job_ids.split(",") if p] + [old_job_id]
            result = session.exec(
                sa.update(BatchLine)
                .where(
                    BatchLine.batch_id == batch_id,
                    BatchLine.line_key == line_key,
                    BatchLine.job_id == old_job_id,
                )
                .values(
                    job_id=job.id,
                    retries=BatchLine.retries + 1,
                    previous_job_ids=",".join(previous),
                )
            )
            if result.rowcount != 1:
                raise _Conflict
            session.add(JobEvent(job_id=old_job_id, at=now, kind="retried", detail=f"as {job.id}"))
            return True

    def mark_cancelled(self, batch_id: str, now: datetime) -> None:
        with self.db.write() as session:
            session.exec(
                sa.update(Batch)
                .where(Batch.id == batch_id, Batch.cancelled_at.is_(None))  # type: ignore[union-attr]
                .values(cancelled_at=now)
            )

    # -- reading -----------------------------------------------------------------------------------

    def get(self, batch_ref: str) -> Batch:
        """A batch by id or by name; BatchNotFound otherwise."""
        with self.db.read() as session:
            batch = session.get(Batch, batch_ref)
            if batch is None:
                batch = session.exec(select(Batch).where(Batch.name == batch_ref)).first()
        if batch is None:
            raise BatchNotFound(batch_ref)
        return batch

    def find_by_name(self, name: str) -> Batch | None:
        with self.db.read() as session:
            return session.exec(select(Batch).where(Batch.name == name)).first()

    def list(self, *, limit: int = 50, schedule_id: int | None = None) -> list[Batch]:
        query = select(Batch).order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit)  # type: ignore[attr-defined]
        if schedule_id is not None:
            query = query.where(Batch.schedule_id == schedule_id)
        with self.db.read() as session:
            return list(session.exec(query))

    def counts(self, batch_ids: Sequence[str]) -> dict[str, BatchCounts]:
        """Lines by status, and tokens so far, per batch (one grouped query)."""
        out = {batch_id: BatchCounts() for batch_id in batch_ids}
        if not batch_ids:
            return out
        query = (
            select(BatchLine.batch_id, Job.status, sa.func.count(), sa.func.sum(Job.total_tokens))
            .join(Job, Job.id == BatchLine.job_id)
            .where(BatchLine.batch_id.in_(list(batch_ids)))  # type: ignore[attr-defined]
            .group_by(BatchLine.batch_id, Job.status)
        )
        with self.db.read() as session:
            for batch_id, status, count, tokens in session.exec(query):
                out[batch_id].by_status[status] = count
                out[batch_id].total_tokens += int(tokens or 0)
        return out

    def lines(
        self, batch_id: str, *, statuses: Sequence[str] = (), limit: int | None = None
    ) -> list[tuple[BatchLine, Job]]:
        """The batch's lines with their jobs, in file order (large job columns not loaded)."""
        query = (
            select(BatchLine, Job)
            .join(Job, Job.id == BatchLine.job_id)
            .where(BatchLine.batch_id == batch_id)
            .order_by(BatchLine.line_no, BatchLine.line_key)
        )
        if statuses:
            query = query.where(Job.status.in_(list(statuses)))  # type: ignore[attr-defined]
        if limit:
            query = query.limit(limit)
        with self.db.read() as session:
            return [(line, job) for line, job in session.exec(query)]

    def job_ids(self, batch_id: str, statuses: Sequence[str] = ()) -> list[str]:
        query = (
            select(Job.id)
            .join(BatchLine, BatchLine.job_id == Job.id)
            .where(BatchLine.batch_id == batch_id)
            .order_by(BatchLine.line_no)
        )
        if statuses:
            query = query.where(Job.status.in_(list(statuses)))  # type: ignore[attr-defined]
        with self.db.read() as session:
            return list(session.exec(query))

    def earliest_due(self, batch_id: str) -> datetime | None:
        """When the next of the batch's live jobs is due for a poll or a retried create."""
        query = (
            select(Job.next_poll_at)
            .join(BatchLine, BatchLine.job_id == Job.id)
            .where(BatchLine.batch_id == batch_id, Job.status.in_(_LIVE))  # type: ignore[attr-defined]
            .where(Job.next_poll_at.is_not(None))  # type: ignore[union-attr]
            .order_by(Job.next_poll_at)
            .limit(1)
        )
        with self.db.read() as session:
            return session.exec(query).first()

    def line_of_job(self, job_id: str) -> BatchLine | None:
        with self.db.read() as session:
            return session.exec(select(BatchLine).where(BatchLine.job_id == job_id)).first()

    def live_batches_of_schedule(self, schedule_id: int) -> list[str]:
        """Batches fired by a schedule that still have live lines (for the overlap policy)."""
        query = (
            select(Batch.id)
            .join(BatchLine, BatchLine.batch_id == Batch.id)
            .join(Job, Job.id == BatchLine.job_id)
            .where(Batch.schedule_id == schedule_id, Job.status.in_(_LIVE))  # type: ignore[attr-defined]
            .distinct()
        )
        with self.db.read() as session:
            return list(session.exec(query))


class _Conflict(Exception):
    """Rolls a transaction back when a guarded update lost its race."""


def _dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _free_id(session, table, wanted: str) -> str:
    for _ in range(20):
        if session.get(table, wanted) is None:
            return wanted
        wanted = new_job_id()
    return new_job_id(10)  # pragma: no cover - 31^6 ids


def _assign_free_job_ids(session, jobs: Sequence[Job]) -> None:
    """Give every new job an id that is not taken (checked in chunks, inside the transaction)."""
    pending = list(jobs)
    seen: set[str] = set()
    for _ in range(20):
        if not pending:
            return
        taken: set[str] = set()
        ids = [job.id for job in pending]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            taken |= set(session.exec(select(Job.id).where(Job.id.in_(chunk))))  # type: ignore[attr-defined]
        retry = []
        for job in pending:
            if job.id in taken or job.id in seen:
                job.id = new_job_id()
                retry.append(job)
            else:
                seen.add(job.id)
        pending = retry
    for job in pending:  # pragma: no cover - 31^6 ids
        job.id = new_job_id(10)
