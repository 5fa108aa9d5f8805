"""The submit path's writes, a group at a time: a batch claims the lines it is about to send in one
transaction, and records the interaction ids of the creates that returned at about the same time in
one transaction (group commit). Per line the write-ahead rule is unchanged (reliability.md): a
line's claim is committed before its create is sent, its id is committed as soon as its create
returns (the recorder commits at once, together with whatever else is waiting, never on a timer),
and a process that dies in between leaves the line `submitting` until its lease runs out, then
`submit_unknown`: never sent twice.

Core SQL, not the ORM: these statements run once or twice per line of a 1,000-line batch, and the
ORM's unit of work was most of their cost.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database
from jobs.errors import StoreError
from jobs.models import Job, JobEvent, JobRequest, JobStatus

_JOBS = Job.__table__  # type: ignore[attr-defined]
_EVENTS = JobEvent.__table__  # type: ignore[attr-defined]
_REQUESTS = JobRequest.__table__  # type: ignore[attr-defined]
_PENDING = JobStatus.PENDING.value
_SUBMITTING = JobStatus.SUBMITTING.value


@dataclass
class Submitted:
    """What the API answered a create, to be committed on the job (see record_submitted)."""

    job_id: str
    owner: str
    interaction_id: str
    remote_status: str | None
    status: JobStatus
    request_json: str | None  # None: the stored request is what was sent (not rewritten)
    remote_created: datetime | None
    remote_updated: datetime | None
    now: datetime
    next_poll_at: datetime
    previous_interaction_id: str | None = None


@dataclass(frozen=True)
class RecordOutcome:
    recorded: bool  # False: the lease was lost and the job has moved on (see record_submitted)
    cancel_pending: bool  # a cancel was requested while the create was in flight


def _record_statement(*, late: bool) -> sa.Update:
    """The UPDATE of record_submitted, built once (building it is most of its cost)."""
    values = {
        "status": sa.bindparam("s_status"),
        "remote_status": sa.bindparam("s_remote_status"),
        "interaction_id": sa.bindparam("s_interaction_id"),
        "submitted_at": sa.bindparam("s_now", type_=_JOBS.c.submitted_at.type),
        "next_poll_at": sa.bindparam("s_next_poll_at", type_=_JOBS.c.next_poll_at.type),
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if late:
        # The lease expired and someone marked us submit_unknown meanwhile: still keep the id, so
        # the job can be found again instead of being resubmitted (and paid) twice.
        where = [
            _JOBS.c.status == JobStatus.SUBMIT_UNKNOWN.value,
            _JOBS.c.interaction_id.is_(None),
        ]
    else:
        where = [_JOBS.c.status == _SUBMITTING, _JOBS.c.lease_owner == sa.bindparam("s_owner")]
        values.update(
            remote_created_at=sa.bindparam(
                "s_remote_created", type_=_JOBS.c.remote_created_at.type
            ),
            remote_updated_at=sa.bindparam(
                "s_remote_updated", type_=_JOBS.c.remote_updated_at.type
            ),
            previous_interaction_id=sa.bindparam("s_previous_interaction_id"),
            error_code=None,
            error_message=None,
        )
    return sa.update(_JOBS).where(_JOBS.c.id == sa.bindparam("s_job_id"), *where).values(values)


_RECORD = {late: _record_statement(late=late) for late in (False, True)}
_ADD_EVENT = sa.insert(_EVENTS)
# The request as sent, when it differs from the one recorded (a turn queued behind one still being
# created gets `previous_interaction_id` at send time): the only update of a job's request.
_REWRITE_REQUEST = (
    sa.update(_REQUESTS)
    .where(_REQUESTS.c.job_id == sa.bindparam("s_job_id"))
    .values(request_json=sa.bindparam("s_request_json"))
)


def record_submitted(connection: sa.Connection, entry: Submitted) -> bool:
    """submitting -> the remote status, with the interaction id, inside the caller's write
    transaction. False if we lost the lease and the job moved on."""
    params = {
        "s_job_id": entry.job_id,
        "s_owner": entry.owner,
        "s_status": entry.status.value,
        "s_remote_status": entry.remote_status,
        "s_interaction_id": entry.interaction_id,
        "s_request_json": entry.request_json,
        "s_now": entry.now,
        "s_next_poll_at": entry.next_poll_at,
        "s_remote_created": entry.remote_created,
        "s_remote_updated": entry.remote_updated,
        "s_previous_interaction_id": entry.previous_interaction_id,
    }
    detail = f"interaction {entry.interaction_id}"
    if connection.execute(_RECORD[False], params).rowcount != 1:
        if connection.execute(_RECORD[True], params).rowcount != 1:
            return False
        detail += " (late)"
    if (
        entry.request_json is not None
    ):  # None: the stored request is what was sent (it can be large)
        connection.execute(_REWRITE_REQUEST, params)
    connection.execute(
        _ADD_EVENT, {"job_id": entry.job_id, "at": entry.now, "kind": "submitted", "detail": detail}
    )
    return True


class SubmitStore:
    """Group claims and group records for a submitter sending many jobs at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim_group(
        self, job_ids: Sequence[str], owner: str, now: datetime, lease_until: datetime
    ) -> list[Job]:
        """pending -> submitting for those of `job_ids` still pending, due and unowned, in one
        transaction; the claimed jobs (with their requests), in the order given."""
        if not job_ids:
            return []
        with self.db.write() as session:
            connection = session.connection()
            claimed = {
                row[0]
                for row in connection.execute(
                    sa.update(_JOBS)
                    .where(
                        _JOBS.c.id.in_(list(job_ids)),
                        _JOBS.c.status == _PENDING,
                        sa.or_(_JOBS.c.next_poll_at.is_(None), _JOBS.c.next_poll_at <= now),
                        sa.or_(_JOBS.c.lease_expires_at.is_(None), _JOBS.c.lease_expires_at < now),
                    )
                    .values(
                        status=_SUBMITTING,
                        lease_owner=owner,
                        lease_expires_at=lease_until,
                        submit_attempts=_JOBS.c.submit_attempts + 1,
                    )
                    .returning(_JOBS.c.id)
                )
            }
            if not claimed:
                return []
            connection.execute(
                sa.insert(_EVENTS),
                [
                    {"job_id": job_id, "at": now, "kind": "submitting", "detail": f"by {owner}"}
                    for job_id in claimed
                ],
            )
            jobs = {j.id: j for j in session.exec(select(Job).where(Job.id.in_(list(claimed))))}  # type: ignore[attr-defined]
            # Their requests with them, in one query (each is read once, to be sent).
            for job_id, request_json in connection.execute(
                sa.select(_REQUESTS.c.job_id, _REQUESTS.c.request_json).where(
                    _REQUESTS.c.job_id.in_(list(claimed))
                )
            ):
                jobs[job_id].attach_request(request_json)
        return [jobs[job_id] for job_id in job_ids if job_id in jobs]

    def unclaim(self, job_ids: Sequence[str], owner: str, now: datetime) -> list[str]:
        """submitting -> pending again for claimed jobs whose create was never sent (the
        submitter stopped or paused first); the attempt it counted is taken back."""
        if not job_ids:
            return []
        with self.db.write() as session:
            connection = session.connection()
            released = [
                row[0]
                for row in connection.execute(
                    sa.update(_JOBS)
                    .where(
                        _JOBS.c.id.in_(list(job_ids)),
                        _JOBS.c.status == _SUBMITTING,
                        _JOBS.c.lease_owner == owner,
                    )
                    .values(
                        status=_PENDING,
                        lease_owner=None,
                        lease_expires_at=None,
                        submit_attempts=_JOBS.c.submit_attempts - 1,
                    )
                    .returning(_JOBS.c.id)
                )
            ]
            if released:
                connection.execute(
                    sa.insert(_EVENTS),
                    [
                        {"job_id": job_id, "at": now, "kind": "pending", "detail": "not sent"}
                        for job_id in released
                    ],
                )
        return released

    def states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, datetime | None]]:
        """(status, next_poll_at) of each job that still exists."""
        if not job_ids:
            return {}
        with self.db.read() as session:
            rows = session.connection().execute(
                sa.select(_JOBS.c.id, _JOBS.c.status, _JOBS.c.next_poll_at).where(
                    _JOBS.c.id.in_(list(job_ids))
                )
            )
            return {row[0]: (row[1], row[2]) for row in rows}

    def record_group(self, entries: Sequence[Submitted]) -> dict[str, RecordOutcome]:
        """Commit several creates' interaction ids in one transaction; for each, whether it was
        recorded and whether a cancel waits to be sent."""
        with self.db.write() as session:
            connection = session.connection()
            recorded = {e.job_id for e in entries if record_submitted(connection, e)}
            cancel_pending = (
                {
                    row[0]
                    for row in connection.execute(
                        sa.select(_JOBS.c.id).where(
                            _JOBS.c.id.in_(list(recorded)),
                            _JOBS.c.cancel_requested_at.is_not(None),
                            _JOBS.c.cancel_sent_at.is_(None),
                        )
                    )
                }
                if recorded
                else set()
            )
        return {
            e.job_id: RecordOutcome(e.job_id in recorded, e.job_id in cancel_pending)
            for e in entries
        }


class _Slot:
    __slots__ = ("entry", "outcome", "error", "done")

    def __init__(self, entry: Submitted) -> None:
        self.entry = entry
        self.outcome: RecordOutcome | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupRecorder:
    """Group commit of interaction ids. A thread whose create returned hands its record over and
    waits until it is committed: the first to arrive commits at once, with every record that
    arrived while the previous commit ran; the others wait for it. No timer: a record waits at
    most for one commit before its own."""

    def __init__(self, store: SubmitStore) -> None:
        self.store = store
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._committing = False
        self.commits = 0  # transactions used (for tests and figures)

    def record(self, entry: Submitted) -> RecordOutcome:
        slot = _Slot(entry)
        with self._cond:
            self._queue.append(slot)
            while not slot.done:
                if self._committing:
                    self._cond.wait()
                    continue
                self._committing = True
                group, self._queue = self._queue, []
                self._cond.release()
                try:
                    self._commit(group)
                finally:
                    self._cond.acquire()
                    self._committing = False
                    for waiting in group:
                        waiting.done = True
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        assert slot.outcome is not None
        return slot.outcome

    def _commit(self, group: list[_Slot]) -> None:
        try:
            outcomes = self.store.record_group([s.entry for s in group])
            self.commits += 1
        except StoreError as exc:
            if len(group) == 1:
                group[0].error = exc
                return
            # One record the store refuses must not hold back the others: each on its own.
            for slot in group:
                try:
                    slot.outcome = self.store.record_group([slot.entry])[slot.entry.job_id]
                    self.commits += 1
                except StoreError as own:
                    slot.error = own
            return
        except BaseException as exc:
            for slot in group:
                slot.error = exc
            return
        for slot in group:
            slot.outcome = outcomes[slot.entry.job_id]
