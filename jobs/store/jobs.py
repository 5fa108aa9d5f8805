"""Every query of `jobs` lives here.

Rules this module keeps (see reliability.md):
- Each state change is one short write transaction with a compare-and-set guard (`WHERE status IN
  (...)`, `WHERE lease_owner = ?`), so two processes can never both win the same transition.
- Terminal states are absorbing: no update ever matches a terminal row's status.
- Outputs and usage are written in the same transaction as the terminal status.
- Claims use leases in our own tables: `BEGIN IMMEDIATE` on SQLite, `FOR UPDATE SKIP LOCKED` on
  PostgreSQL (`with_for_update` compiles to nothing on SQLite, where the write lock already
  serialises claimers).
- No transaction is ever held across a network call: the service reads, calls, then writes.
- Listings never load the large columns (request, outputs, steps). The request lives in
  `job_requests`, written once with the job: no status change, lease or poll touches it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from jobs.crash import crash_point
from jobs.db import Database, recycle_connection_after
from jobs.errors import AmbiguousJobId, JobNotFound, UsageError
from jobs.models import (
    POLLABLE_STATUSES,
    TERMINAL_STATUSES,
    InteractionEvent,
    Job,
    JobEvent,
    JobLabel,
    JobRequest,
    JobResult,
    JobStatus,
    JobUsage,
    JobWatch,
    Worker,
    new_job_id,
)
from jobs.payloads import input_digest
from jobs.store.submitting import Submitted, record_submitted
from jobs.store.usage import record_final

# What a user types for the newest job (`gjobs show @last`): `@` needs no quoting in bash or zsh.
LATEST_JOB = "@last"
_ID_PREFIX = re.compile(r"^[a-z0-9]{1,15}$")
_MAX_CANDIDATES = 10

_TERMINAL = [s.value for s in TERMINAL_STATUSES]
_POLLABLE = [s.value for s in POLLABLE_STATUSES]


@dataclass
class JobFilter:
    statuses: Sequence[str] = ()
    labels: dict[str, str] | None = None
    since: datetime | None = None
    limit: int | None = None
    search: str | None = None
    batch_id: str | None = None  # only this batch's lines, in file order


@dataclass
class TerminalResult:
    """Everything written together with a terminal status."""

    output_text: str = ""
    thoughts: list[str] | None = None
    steps: list[Any] | None = None
    usage: dict[str, Any] | None = None
    errors: list[Any] | None = None
    raw: dict[str, Any] | None = None


# Parts of the interaction resource stored in their own columns: `steps` (steps_json, with the
# output in output_text) and `input` (the request, in jobs.request_json). raw_json keeps the rest,
# so a 50 MB prompt or a 20 MB report is not stored again inside it.
_STORED_APART = {"steps": "job_results.steps_json", "input": "job_requests.request_json"}


def _without_copies(raw: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in raw.items() if k not in _STORED_APART}
    apart = {k: where for k, where in _STORED_APART.items() if k in raw}
    if apart:
        kept["_stored_apart"] = apart
    return kept


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def request_row(job: Job) -> JobRequest:
    """The `job_requests` row of a job being inserted (its id final): what it carries, or `{}`."""
    return JobRequest(
        job_id=job.id,
        request_json=job.__dict__.get("_request_json", "{}"),
        input_sha256=input_digest(job.__dict__.get("_request_input")),
    )


# A value this large (characters) is not left bound to a pooled SQLite connection's statements.
LARGE_VALUE = 1 << 20

# SQLite's search index of a text prompt, from the text itself (migration 0007: the trigger
# would parse the 50 MB request with json_extract, at 2-3 times its size in memory). Kept in
# step with SQLITE_INDEX_PROMPT there.
_INDEX_PROMPT = (
    "INSERT INTO job_search(job_search, rowid, prompt, output) SELECT 'delete',"
    " (SELECT id FROM job_search_rows WHERE job_id = :job AND part = 'p'), '', ''",
    "INSERT INTO job_search(rowid, prompt, output) SELECT"
    " (SELECT id FROM job_search_rows WHERE job_id = :job AND part = 'p'), :prompt, ''",
)


def add_request(session: Session, job: Job) -> None:
    """Insert the request a new job carries (in the transaction that inserts the job, after
    it); on SQLite, index its text prompt. The job then forgets it (its store has it)."""
    row = request_row(job)
    large = len(row.request_json) > LARGE_VALUE
    digested = row.input_sha256 is not None
    session.add(row)
    text = job.__dict__.get("_request_input")
    job.detach_request()
    if large:
        # Written now and forgotten: the JSON is not held in memory beside SQLite's copies.
        session.flush()
        session.expunge(row)
        recycle_connection_after(session)
    del row
    if digested and session.get_bind().dialect.name == "sqlite":
        connection = session.connection()
        clear, index = _INDEX_PROMPT
        connection.exec_driver_sql(clear, {"job": job.id})
        connection.exec_driver_sql(index, {"job": job.id, "prompt": text})


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- creating ----------------------------------------------------------------------------------

    def insert_job(self, job: Job, labels: dict[str, str], now: datetime) -> Job:
        """Record a new job (write-ahead: before anything is sent). Picks a free short id."""
        with self.db.write() as session:
            self._insert(session, job, labels, now)
        return self._with_request_loader(job)

    def free_job_id(self) -> str:
        """A short id no job has (yet): the service names the job before it is inserted, since
        the id goes into the request it stores (the `jobs-id` label)."""
        with self.db.read() as session:
            for _ in range(20):
                job_id = new_job_id()
                if session.get(Job, job_id) is None:
                    return job_id
        return new_job_id(10)  # pragma: no cover - 31^6 ids

    def free_job_ids(self, count: int) -> list[str]:
        """`count` distinct short ids no job has (yet), checked a few hundred to a query (a batch
        names all its lines' jobs before recording them)."""
        ids: list[str] = []
        with self.db.read() as session:
            while len(ids) < count:
                wanted = {new_job_id() for _ in range(min(count - len(ids), 500))} - set(ids)
                taken = set(session.exec(select(Job.id).where(Job.id.in_(list(wanted)))))  # type: ignore[attr-defined]
                ids.extend(sorted(wanted - taken))
        return ids[:count]

    def _insert(self, session: Session, job: Job, labels: dict[str, str], now: datetime) -> Job:
        # The id was checked free by free_job_id; two processes picking the same one of 31^6 ids
        # at the same instant get an integrity error here, never a silently renamed job.
        job.labels_json = _dumps(labels)
        session.add(job)
        session.flush()
        add_request(session, job)
        for key, value in labels.items():
            session.add(JobLabel(job_id=job.id, key=key, value=value))
        _event(session, job.id, now, "recorded", f"{job.target}")
        return job

    def insert_successor(
        self, job: Job, labels: dict[str, str], now: datetime, *, dead_ends: Iterable[str]
    ) -> tuple[Job | None, Job | None]:
        """Insert `job` as the next turn of `job.parent_job_id` unless that turn already has a
        live successor: (job, None) when inserted, (None, existing successor) when refused. The
        parent row is locked first, so two concurrent inserts cannot both see no successor."""
        assert job.parent_job_id
        with self.db.write() as session:
            session.exec(select(Job.id).where(Job.id == job.parent_job_id).with_for_update())
            existing = session.exec(
                select(Job)
                .where(Job.parent_job_id == job.parent_job_id, Job.status.not_in(list(dead_ends)))  # type: ignore[attr-defined]
                .order_by(Job.created_at)  # type: ignore[arg-type]
            ).first()
            if existing is not None:
                return None, existing
            self._insert(session, job, labels, now)
        return self._with_request_loader(job), None

    # -- reading -----------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        """A job by what a user may type for it: its id, its interaction id, a unique prefix of
        its id, or `@last` (the newest job). JobNotFound otherwise; AmbiguousJobId (listing the
        candidates) when a prefix fits several. Every command resolves ids here. The job's
        `request_json` is read on first use (one query), not with the job."""
        return self._with_request_loader(self._get_job(job_id))

    def _with_request_loader(self, job: Job) -> Job:
        job.load_request_with(functools.partial(self.request_of, job.id))
        return job

    def _get_job(self, job_id: str) -> Job:
        with self.db.read() as session:
            if job_id == LATEST_JOB:
                job = session.exec(select(Job).order_by(Job.created_at.desc(), Job.id)).first()  # type: ignore[attr-defined]
                if job is None:
                    raise JobNotFound(job_id)
                return job
            job = session.get(Job, job_id)
            if job is None:
                job = session.exec(select(Job).where(Job.interaction_id == job_id)).first()
            if job is None and job_id and _ID_PREFIX.match(job_id):
                candidates = session.exec(
                    select(Job)
                    .where(Job.id.startswith(job_id, autoescape=True))  # type: ignore[attr-defined]
                    .order_by(Job.created_at.desc())  # type: ignore[attr-defined]
                    .limit(_MAX_CANDIDATES + 1)
                ).all()
                if len(candidates) > 1:
                    raise AmbiguousJobId(job_id, [c.id for c in candidates], _MAX_CANDIDATES)
                job = candidates[0] if candidates else None
            if job is None:
                raise JobNotFound(job_id)
            return job

    def job_ids(self, prefix: str = "", *, limit: int = 50) -> list[tuple[str, str, str]]:
        """(id, status, prompt excerpt) of the newest jobs whose id starts with `prefix`: what
        shell completion offers."""
        query = select(Job.id, Job.status, Job.prompt_excerpt)
        if prefix:
            query = query.where(Job.id.startswith(prefix, autoescape=True))  # type: ignore[attr-defined]
        query = query.order_by(Job.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
        with self.db.read() as session:
            return [tuple(row) for row in session.exec(query).all()]  # type: ignore[misc]

    def find_job(self, job_id: str) -> Job | None:
        try:
            return self.get_job(job_id)
        except JobNotFound:
            return None

    def get_result(self, job_id: str) -> JobResult | None:
        with self.db.read() as session:
            return session.get(JobResult, job_id)

    def request_of(self, job_id: str) -> str:
        """The create body stored for a job, as JSON (`{}` if it has none)."""
        with self.db.read() as session:
            request = session.exec(
                select(JobRequest.request_json).where(JobRequest.job_id == job_id)
            ).first()
        return request or "{}"

    def request_input(self, job_id: str) -> Any:
        """The `input` of the request stored for a job (None if there is none)."""
        return json.loads(self.request_of(job_id)).get("input")

    def input_digest(self, job_id: str) -> str | None:
        """The digest of a job's text prompt recorded with its request (not the request)."""
        with self.db.read() as session:
            return session.exec(
                select(JobRequest.input_sha256).where(JobRequest.job_id == job_id)
            ).first()

    def get_result_head(self, job_id: str, max_chars: int) -> JobResult | None:
        """The result with only the first `max_chars` characters of the output and none of the
        large JSON columns (steps, raw): what `show` renders, whatever the output's size. The
        database cuts the text (substr counts characters on SQLite and PostgreSQL alike)."""
        query = sa.select(
            sa.func.substr(JobResult.output_text, 1, max_chars),
            JobResult.thoughts_json,
            JobResult.usage_json,
            JobResult.errors_json,
        ).where(JobResult.job_id == job_id)
        with self.db.read() as session:
            row = session.execute(query).first()
        if row is None:
            return None
        return JobResult(
            job_id=job_id,
            output_text=row[0] or "",
            thoughts_json=row[1],
            usage_json=row[2],
            errors_json=row[3],
        )

    def list_jobs(self, filt: JobFilter | None = None) -> list[Job]:
        """Newest first; the large request column is not loaded."""
        filt = filt or JobFilter()
        query = select(Job)
        if filt.statuses:
            query = query.where(Job.status.in_(list(filt.statuses)))  # type: ignore[attr-defined]
        if filt.since is not None:
            query = query.where(Job.created_at >= filt.since)
        for key, value in (filt.labels or {}).items():
            label = sa.orm.aliased(JobLabel)
            query = query.join(label, label.job_id == Job.id).where(
                label.key == key, label.value == value
            )
        if filt.search:
            pattern = (
                "%"
                + filt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            query = query.where(Job.prompt_excerpt.ilike(pattern, escape="\\"))  # type: ignore[attr-defined]
        if filt.batch_id:
            from jobs.models import BatchLine

            query = query.join(BatchLine, BatchLine.job_id == Job.id)
            query = query.where(BatchLine.batch_id == filt.batch_id).order_by(BatchLine.line_no)
        else:
            query = query.order_by(Job.created_at.desc(), Job.id.desc())  # type: ignore[attr-defined]
        if filt.limit:
            query = query.limit(filt.limit)
        with self.db.read() as session:
            return list(session.exec(query))

    def labels_for(self, job_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        ids = list(job_ids)
        out: dict[str, dict[str, str]] = {i: {} for i in ids}
        if not ids:
            return out
        with self.db.read() as session:
            for row in session.exec(select(JobLabel).where(JobLabel.job_id.in_(ids))):  # type: ignore[attr-defined]
                out[row.job_id][row.key] = row.value
        return out

    def events_for(self, job_id: str) -> list[JobEvent]:
        with self.db.read() as session:
            query = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)  # type: ignore[arg-type]
            return list(session.exec(query))

    def children_of(self, job_id: str) -> list[Job]:
        with self.db.read() as session:
            query = select(Job).where(Job.parent_job_id == job_id).order_by(Job.created_at)  # type: ignore[arg-type]
            return list(session.exec(query))

    def count_by_status(self) -> dict[str, int]:
        with self.db.read() as session:
            rows = session.exec(select(Job.status, sa.func.count()).group_by(Job.status))
            return {status: count for status, count in rows}

    # -- submitting --------------------------------------------------------------------------------

    def claim_for_submit(
        self, job_id: str, owner: str, now: datetime, lease_until: datetime
    ) -> Job | None:
        """pending -> submitting, if the job is still pending, due and unowned; None otherwise."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.PENDING.value)
                .where(sa.or_(Job.next_poll_at.is_(None), Job.next_poll_at <= now))  # type: ignore[union-attr]
                .where(sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))  # type: ignore[union-attr]
                .values(
                    status=JobStatus.SUBMITTING.value,
                    lease_owner=owner,
                    lease_expires_at=lease_until,
                    submit_attempts=Job.submit_attempts + 1,
                )
            )
            if result.rowcount != 1:
                return None
            _event(session, job_id, now, "submitting", f"by {owner}")
            return session.get(Job, job_id)

    def submittable_ids(
        self, now: datetime, limit: int, job_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Pending jobs that are due and whose predecessor (if any) is finished."""
        parent = sa.orm.aliased(Job)
        query = (
            select(Job.id)
            .outerjoin(parent, parent.id == Job.parent_job_id)
            .where(Job.status == JobStatus.PENDING.value)
            .where(sa.or_(Job.next_poll_at.is_(None), Job.next_poll_at <= now))  # type: ignore[union-attr]
            .where(sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))  # type: ignore[union-attr]
            .where(sa.or_(Job.parent_job_id.is_(None), parent.status.in_(_TERMINAL)))  # type: ignore[union-attr]
            .order_by(Job.created_at)
            .limit(limit)
        )
        if job_ids is not None:
            query = query.where(Job.id.in_(list(job_ids)))  # type: ignore[attr-defined]
        with self.db.read() as session:
            return list(session.exec(query))

    def record_submitted(
        self,
        job_id: str,
        owner: str,
        *,
        interaction_id: str,
        remote_status: str | None,
        status: JobStatus,
        request_json: str | None,
        remote_created: datetime | None,
        remote_updated: datetime | None,
        now: datetime,
        next_poll_at: datetime,
        previous_interaction_id: str | None = None,
    ) -> bool:
        """submitting -> the remote status, with the interaction id. False if we lost the lease."""
        entry = Submitted(
            job_id,
            owner,
            interaction_id=interaction_id,
            remote_status=remote_status,
            status=status,
            request_json=request_json,
            remote_created=remote_created,
            remote_updated=remote_updated,
            now=now,
            next_poll_at=next_poll_at,
            previous_interaction_id=previous_interaction_id,
        )
        with self.db.write() as session:
            return record_submitted(session.connection(), entry)

    def attach_interaction(
        self,
        job_id: str,
        *,
        interaction_id: str,
        remote_status: str | None,
        status: JobStatus,
        now: datetime,
        next_poll_at: datetime,
        awaiting: Sequence[str],
        detail: str,
    ) -> bool:
        """Give a job that was (maybe) created but has no id its interaction id, whoever held its
        submit lease: the id is the proof that its create ran. False if it moved on meanwhile."""
        with self.db.write() as session:
            return _compare_and_set(
                session,
                job_id,
                [Job.status.in_(list(awaiting)), Job.interaction_id.is_(None)],  # type: ignore[attr-defined,union-attr]
                {
                    "status": status.value,
                    "remote_status": remote_status,
                    "interaction_id": interaction_id,
                    "submitted_at": now,
                    "next_poll_at": next_poll_at,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "error_code": None,
                    "error_message": None,
                },
                (now, "submitted", detail),
            )

    def release_submit(
        self,
        job_id: str,
        owner: str,
        *,
        to: JobStatus,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """submitting -> pending (retry later), submit_unknown, or failed (rejected)."""
        values: dict[str, Any] = {
            "status": to.value,
            "lease_owner": None,
            "lease_expires_at": None,
            "error_code": error_code,
            "error_message": error_message,
            "next_poll_at": next_attempt_at,
        }
        if to.is_terminal:
            values["finished_at"] = now
        with self.db.write() as session:
            return _compare_and_set(
                session,
                job_id,
                [Job.status == JobStatus.SUBMITTING.value, Job.lease_owner == owner],
                values,
                (now, to.value, error_message or ""),
            )

    def mark_stale_submissions(self, now: datetime) -> list[str]:
        """Submitting jobs whose submitter died (lease expired) -> submit_unknown. Never resubmitted."""
        stale = select(Job.id).where(
            Job.status == JobStatus.SUBMITTING.value,
            Job.lease_expires_at < now,  # type: ignore[operator]
        )
        if not self._exists(stale):
            return []
        with self.db.write() as session:
            ids = list(session.exec(stale.with_for_update(skip_locked=True)))
            for job_id in ids:
                session.exec(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.SUBMITTING.value)
                    .values(
                        status=JobStatus.SUBMIT_UNKNOWN.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        error_code="submit_unknown",
                        error_message="the submitter stopped while create was in flight; "
                        "the interaction may exist remotely (see `gjobs resubmit`)",
                    )
                )
                _event(session, job_id, now, "submit_unknown", "submitter lease expired")
            return ids

    def fail_orphans(self, now: datetime) -> list[str]:
        """Pending jobs whose predecessor ended without completing can never be sent: fail them."""
        parent = sa.orm.aliased(Job)
        orphans = (
            select(Job.id, parent.id, parent.status)
            .join(parent, parent.id == Job.parent_job_id)
            .where(Job.status == JobStatus.PENDING.value)
            .where(parent.status.in_([s for s in _TERMINAL if s != JobStatus.COMPLETED.value]))  # type: ignore[attr-defined]
        )
        if not self._exists(orphans):
            return []
        with self.db.write() as session:
            rows = list(session.exec(orphans))
            for job_id, parent_id, parent_status in rows:
                session.exec(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.PENDING.value)
                    .values(
                        status=JobStatus.FAILED.value,
                        finished_at=now,
                        error_code="predecessor_not_completed",
                        error_message=f"not sent: the job it continues ({parent_id}) ended {parent_status}",
                    )
                )
                _event(
                    session, job_id, now, "failed", f"predecessor {parent_id} ended {parent_status}"
                )
            return [r[0] for r in rows]

    def reset_for_resubmit(self, job_id: str, now: datetime) -> bool:
        """submit_unknown -> pending, on the user's explicit request."""
        with self.db.write() as session:
            return _compare_and_set(
                session,
                job_id,
                [Job.status == JobStatus.SUBMIT_UNKNOWN.value],
                {
                    "status": JobStatus.PENDING.value,
                    "next_poll_at": None,
                    "error_code": None,
                    "error_message": None,
                },
                (now, "resubmit", "requested by the user"),
            )

    # -- polling -----------------------------------------------------------------------------------

    def claim_due(
        self,
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        job_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        """Lease up to `limit` jobs that are due for a poll or have a cancel to send."""
        only = Job.id.in_(list(job_ids)) if job_ids is not None else sa.true()  # type: ignore[attr-defined]
        due = sa.or_(
            Job.next_poll_at <= now,  # type: ignore[operator]
            sa.and_(Job.cancel_requested_at.is_not(None), Job.cancel_sent_at.is_(None)),  # type: ignore[union-attr]
        )
        candidates = (
            select(Job.id)
            .where(Job.status.in_(_POLLABLE), Job.interaction_id.is_not(None), due, only)  # type: ignore[attr-defined,union-attr]
            .where(sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))  # type: ignore[union-attr]
        )
        if not self._exists(candidates):
            return []
        with self.db.write() as session:
            ids = list(
                session.exec(
                    candidates.order_by(Job.next_poll_at)
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
            return list(
                session.exec(select(Job).where(Job.id.in_(ids)))  # type: ignore[attr-defined]
            )

    def record_poll(
        self,
        job_id: str,
        owner: str,
        *,
        status: JobStatus,
        remote_status: str | None,
        remote_updated: datetime | None,
        now: datetime,
        next_poll_at: datetime,
        error_code: str | None = None,
        error_message: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """A non-terminal poll result; releases the lease. A change of status is written to the
        job's history, with `detail` (e.g. the raw reply of an unknown status) when given."""
        with self.db.write() as session:
            current = session.exec(
                select(Job.status).where(Job.id == job_id, Job.lease_owner == owner)
            ).first()
            if current is None or current in _TERMINAL:
                return False
            result = session.exec(
                sa.update(Job)
                .where(Job.id == job_id, Job.lease_owner == owner, Job.status.in_(_POLLABLE))  # type: ignore[attr-defined]
                .values(
                    status=status.value,
                    remote_status=remote_status,
                    remote_updated_at=remote_updated or Job.remote_updated_at,
                    last_polled_at=now,
                    next_poll_at=next_poll_at,
                    poll_count=Job.poll_count + 1,
                    consecutive_errors=0,
                    lease_owner=None,
                    lease_expires_at=None,
                    error_code=error_code,
                    error_message=error_message,
                )
            )
            if result.rowcount == 1 and current != status.value:
                _event(
                    session, job_id, now, status.value, detail or f"remote status {remote_status!r}"
                )
            return result.rowcount == 1

    def record_streamed_statuses(self, statuses: dict[str, str], now: datetime) -> int:
        """What a job's stream says its status now is (queued or in_progress), for the jobs it
        changes: one short transaction, guarded so it never moves a job out of a terminal (or
        any other) state; the change goes into the job's history like a poll's. The terminal
        status is not written here: it comes with the confirming get."""
        live = (JobStatus.QUEUED.value, JobStatus.IN_PROGRESS.value)
        changed = 0
        with self.db.write() as session:
            for job_id, status in statuses.items():
                if status not in live:
                    continue
                changed += _compare_and_set(
                    session,
                    job_id,
                    [Job.status.in_(live), Job.status != status],  # type: ignore[attr-defined]
                    {"status": status, "remote_status": status},
                    (now, status, f"remote status {status!r} (stream)"),
                )
        return changed

    def record_poll_error(
        self, job_id: str, owner: str, *, now: datetime, next_poll_at: datetime, message: str
    ) -> bool:
        """A transient failure: the job keeps its status; try again later."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Job)
                .where(Job.id == job_id, Job.lease_owner == owner, Job.status.in_(_POLLABLE))  # type: ignore[attr-defined]
                .values(
                    last_polled_at=now,
                    next_poll_at=next_poll_at,
                    poll_count=Job.poll_count + 1,
                    consecutive_errors=Job.consecutive_errors + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    error_message=message,
                )
            )
            return result.rowcount == 1

    def record_terminal(
        self,
        job_id: str,
        *,
        status: JobStatus,
        remote_status: str | None,
        now: datetime,
        result: TerminalResult,
        usage: dict[str, int | None],
        remote_updated: datetime | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Any live status -> a terminal one, with outputs and usage, in one transaction.

        Guarded by status (never overwrites a terminal state) and, when given, by the lease owner.
        """
        assert status.is_terminal
        with self.db.write() as session:
            update = sa.update(Job).where(Job.id == job_id, Job.status.not_in(_TERMINAL))  # type: ignore[attr-defined]
            if owner is not None:
                update = update.where(Job.lease_owner == owner)
            updated = session.exec(
                update.values(
                    status=status.value,
                    remote_status=remote_status,
                    finished_at=now,
                    last_polled_at=now,
                    next_poll_at=None,
                    poll_count=Job.poll_count + 1,
                    remote_updated_at=remote_updated or Job.remote_updated_at,
                    lease_owner=None,
                    lease_expires_at=None,
                    consecutive_errors=0,
                    error_code=error_code,
                    error_message=error_message,
                    output_chars=len(result.output_text),
                    **usage,
                )
            )
            if updated.rowcount != 1:
                return False
            session.merge(
                JobResult(
                    job_id=job_id,
                    output_text=result.output_text,
                    thoughts_json=_dumps(result.thoughts or []),
                    steps_json=_dumps(result.steps or []),
                    usage_json=_dumps(result.usage or {}),
                    errors_json=_dumps(result.errors or []),
                    raw_json=_dumps(_without_copies(result.raw or {})),
                )
            )
            record_final(session, job_id, result.usage, result.raw)  # tier, search calls
            _event(
                session,
                job_id,
                now,
                status.value,
                error_message or f"remote status {remote_status!r}",
            )
            session.flush()
            crash_point("store.terminal_uncommitted")
            return True

    def release(self, job_id: str, owner: str) -> None:
        self.release_all([job_id], owner)

    def release_all(self, job_ids: Sequence[str], owner: str) -> None:
        """Give leases back unused (the jobs stay due), in one transaction."""
        if not job_ids:
            return
        with self.db.write() as session:
            session.exec(
                sa.update(Job)
                .where(Job.id.in_(list(job_ids)), Job.lease_owner == owner)
                .values(  # type: ignore[attr-defined]
                    lease_owner=None, lease_expires_at=None
                )
            )

    # -- cancelling --------------------------------------------------------------------------------

    def request_cancel(self, job_id: str, now: datetime) -> tuple[Job, bool]:
        """Record a cancel request; returns (job, True) only for the first request."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Job)
                .where(
                    Job.id == job_id,
                    Job.cancel_requested_at.is_(None),
                    Job.status.not_in(_TERMINAL),
                )  # type: ignore[union-attr,attr-defined]
                .values(cancel_requested_at=now)
            )
            first = result.rowcount == 1
            if first:
                _event(session, job_id, now, "cancel_requested", "")
            job = session.get(Job, job_id)
            if job is None:
                raise JobNotFound(job_id)
            return job, first

    def cancel_unsent(self, job_id: str, now: datetime, reason: str | None = None) -> bool:
        """A job never sent (pending) is cancelled locally, with no remote call; `reason` (why
        jobs did it, e.g. a budget) becomes its error message."""
        values: dict[str, Any] = {
            "status": JobStatus.CANCELLED.value,
            "finished_at": now,
            "cancel_sent_at": None,
            "next_poll_at": None,
        }
        if reason:
            values.update(error_code="budget", error_message=reason)
        with self.db.write() as session:
            return _compare_and_set(
                session,
                job_id,
                [Job.status.in_([JobStatus.PENDING.value, JobStatus.SUBMIT_UNKNOWN.value])],  # type: ignore[attr-defined]
                values,
                (
                    now,
                    "cancelled",
                    f"cancelled before it was sent: {reason}"
                    if reason
                    else "cancelled before it was sent",
                ),
            )

    def take_cancel_send(self, job_id: str, now: datetime) -> bool:
        """The one right to call the remote cancel for this job (exactly-once across processes)."""
        with self.db.write() as session:
            return _compare_and_set(
                session,
                job_id,
                [
                    Job.cancel_requested_at.is_not(None),  # type: ignore[union-attr]
                    Job.cancel_sent_at.is_(None),  # type: ignore[union-attr]
                    Job.interaction_id.is_not(None),  # type: ignore[union-attr]
                    Job.status.not_in(_TERMINAL),  # type: ignore[attr-defined]
                ],
                {"cancel_sent_at": now},
                (now, "cancel_sent", ""),
            )

    def retry_cancel_later(self, job_id: str) -> None:
        """The remote cancel failed: let the next worker pass send it again."""
        with self.db.write() as session:
            session.exec(
                sa.update(Job)
                .where(Job.id == job_id, Job.status.not_in(_TERMINAL))
                .values(cancel_sent_at=None)  # type: ignore[attr-defined]
            )

    def poll_soon(self, job_id: str, now: datetime) -> None:
        with self.db.write() as session:
            session.exec(
                sa.update(Job)
                .where(Job.id == job_id, Job.status.in_(_POLLABLE))
                .values(next_poll_at=now)  # type: ignore[attr-defined]
            )

    # -- deleting ----------------------------------------------------------------------------------

    def delete_job(self, job_id: str) -> bool:
        with self.db.write() as session:
            tables = (
                JobEvent,
                JobLabel,
                JobResult,
                JobRequest,
                InteractionEvent,
                JobWatch,
                JobUsage,
            )
            for table in tables:
                session.exec(sa.delete(table).where(table.job_id == job_id))  # type: ignore[attr-defined]
            session.exec(
                sa.update(Job).where(Job.parent_job_id == job_id).values(parent_job_id=None)
            )
            return session.exec(sa.delete(Job).where(Job.id == job_id)).rowcount == 1

    def _exists(self, query: Any) -> bool:
        """A cheap read before a write transaction that would most often find nothing to do: on
        SQLite every write transaction takes the one database-wide write lock, and a worker pass
        runs several; with many workers, idle passes would queue each other (and the CLI) for it.
        The write transaction selects again under its lock, so a stale answer here is harmless."""
        with self.db.read() as session:
            return session.exec(query.limit(1)).first() is not None

    # -- health ------------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's integrity check (empty: fine; other databases: not checked)."""
        if self.db.dialect != "sqlite":
            return []
        with self.db.read() as session:
            rows = [r[0] for r in session.connection().exec_driver_sql("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    # -- workers -----------------------------------------------------------------------------------

    def heartbeat(self, worker: Worker) -> None:
        with self.db.write() as session:
            existing = session.get(Worker, worker.id)
            if existing is None:
                session.add(worker)
            else:
                existing.heartbeat_at = worker.heartbeat_at
                existing.stopped_at = worker.stopped_at

    def list_workers(self) -> list[Worker]:
        with self.db.read() as session:
            return list(session.exec(select(Worker).order_by(Worker.heartbeat_at.desc())))  # type: ignore[attr-defined]

    def leases(self) -> list[tuple[str, str, datetime]]:
        with self.db.read() as session:
            rows = session.exec(
                select(Job.id, Job.lease_owner, Job.lease_expires_at).where(
                    Job.lease_owner.is_not(None)
                )  # type: ignore[union-attr]
            )
            return [(r[0], r[1], r[2]) for r in rows]


def _compare_and_set(
    session: Session,
    job_id: str,
    conditions: Sequence[Any],
    values: dict[str, Any],
    event: tuple[datetime, str, str],
) -> bool:
    """Update one job only if it still matches `conditions`; log `event` (at, kind, detail) when it
    did. The guard in the WHERE clause is what makes a transition safe between processes."""
    result = session.exec(sa.update(Job).where(Job.id == job_id, *conditions).values(**values))
    if result.rowcount != 1:
        return False
    _event(session, job_id, *event)
    return True


def _event(session: Session, job_id: str, at: datetime, kind: str, detail: str) -> None:
    session.add(JobEvent(job_id=job_id, at=at, kind=kind, detail=detail[:2000]))


def validate_sort_key(key: str, allowed: Iterable[str]) -> str:
    """Sort keys come from users: only known column names pass."""
    if key not in set(allowed):
        raise UsageError(f"cannot sort by {key!r}; choose one of: {', '.join(sorted(allowed))}")
    return key
