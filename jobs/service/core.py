"""Business rules: submit, poll, cancel, resubmit, delete, chain. The CLI, the worker and the web
page call this; it calls the store, the gateway and the clock, and nothing else.

Submission is write-ahead (reliability.md): the job is committed as `pending` before anything is
sent, moved to `submitting` under a lease in its own transaction, created remotely with SDK retries
off and a label naming the local job, then the interaction id is committed. A submitter that dies
in between leaves a `submitting` row whose lease expires; it then becomes `submit_unknown` and is
resubmitted only by an explicit `jobs resubmit`. `create` is retried automatically only when it
certainly did not happen (429, connection refused; a 503 may have run, see gateway._map_status).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import re
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jobs.clock import Clock
from jobs.config import Settings
from jobs.crash import crash_point
from jobs.errors import (
    AuthFailed,
    GatewayError,
    InvalidTransition,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    RemoteNotFound,
    StoreError,
    Unreachable,
    UsageError,
)
from jobs.gateway import Gateway, RemoteInteraction
from jobs.models import Job, JobResult, JobStatus
from jobs.service.record import Recorder
from jobs.service.recovery import Recovery
from jobs.service.webhooks import WebhookReceiver
from jobs.store import EventStore, JobFilter, JobStore, StoredEvent, TerminalResult
from jobs.store.submitting import GroupRecorder, Submitted

if TYPE_CHECKING:
    from jobs.service.batches import BatchService
    from jobs.service.notify import NotifyService
    from jobs.service.schedules import ScheduleService

log = logging.getLogger(__name__)

JOB_LABEL = "jobs-id"  # the label on every create that names the local job
_LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_SUBMIT_MARGIN = 30.0  # seconds a submit lease outlives the create timeout
# What _submit_once returns when the API accepted the create (None: nothing to retry; a float: the
# create was refused, retry after that many seconds).
_CREATED = "created"
# A successor that ended like this is a dead end: the turn before it may be continued again.
DEAD_END_STATUSES = frozenset(
    s.value for s in JobStatus if s.is_terminal and s is not JobStatus.COMPLETED
)


def owner_id(kind: str) -> str:
    """A lease owner name that is unique per process and readable in `jobs doctor`."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    """`key=value` strings to a dict, with the API's label rules checked up front."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"bad label {pair!r}: use key=value")
        if not _LABEL_RE.match(key) or not _LABEL_VALUE_RE.match(value):
            raise UsageError(
                f"bad label {pair!r}: keys start with a lower-case letter; keys and values use "
                "only a-z, 0-9, '_' and '-', at most 63 characters"
            )
        if key == JOB_LABEL:
            raise UsageError(f"the label {JOB_LABEL!r} is reserved: jobs sets it to the job's id")
        labels[key] = value
    return labels


@dataclass
class SubmitSpec:
    """What the user asked for."""

    prompt: str
    model: str | None = None
    agent: str | None = None
    system: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    continue_job: str | None = None
    branch: bool = False  # continue a turn that already has a successor (a second line)
    generation_config: dict[str, Any] | None = None
    agent_config: dict[str, Any] | None = None
    service_tier: str | None = None
    budget: Any = None  # a service.budgets.Ceiling: set before anything is sent


def check_spec(spec: SubmitSpec) -> None:
    """The rules a submission must meet before anything is recorded or sent."""
    if spec.model and spec.agent:
        raise UsageError("give either --model or --agent, not both")
    if not spec.prompt or spec.prompt.isspace():  # not .strip(): no copy of a large prompt
        raise UsageError("the prompt is empty")


@dataclass
class PassReport:
    """What one worker pass did."""

    submitted: int = 0
    polled: int = 0
    finished: int = 0
    errors: int = 0
    marked_unknown: int = 0
    paused_for: float = 0.0

    def __iadd__(self, other: PassReport) -> PassReport:
        for name in ("submitted", "polled", "finished", "errors", "marked_unknown"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


class JobService:
    def __init__(
        self,
        store: JobStore,
        gateway: Gateway,
        clock: Clock,
        settings: Settings,
        *,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.settings = settings
        self.owner = owner or owner_id("cli")
        self.rng = rng or random.Random()
        # A 429 slows everything this process sends, not just one job.
        self.paused_until: datetime | None = None
        self._rate_limit_strikes = 0
        # Writes of what the API did that the store refused (full, locked): retried next pass.
        self._deferred: dict[str, Callable[[], object]] = {}
        # Interaction ids the store refused are also kept on disk (jobs/service/recovery.py).
        self.recovery = Recovery(self)
        self._unrecorded: dict[str, StoreError] = {}  # job id -> what to say if it stays so
        # The event journal: what the API's streams said, once, in order.
        self.journal = EventStore(store.db)
        self.webhooks = WebhookReceiver(self)  # completion pushed by webhook (service/webhooks.py)
        # Bodies of jobs submit_new recorded and is sending now (job id -> the body as stored).
        self._built_bodies: dict[str, dict[str, Any]] = {}
        self.recorder = Recorder(
            self
        )  # what the API said, applied to the store (service/record.py)

    # -- capabilities with modules of their own (built on first use) -------------------------------

    @cached_property
    def batches(self) -> BatchService:
        from jobs.service.batches import BatchService

        return BatchService(self)

    @cached_property
    def schedules(self) -> ScheduleService:
        from jobs.service.schedules import ScheduleService

        return ScheduleService(self)

    @cached_property
    def notify(self) -> NotifyService:
        from jobs.service.notify import NotifyService

        return NotifyService(self)

    # -- reading -----------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        return self.store.get_job(job_id)

    def get_result(self, job_id: str) -> JobResult | None:
        return self.store.get_result(job_id)

    def list_jobs(self, filt: JobFilter | None = None) -> list[Job]:
        return self.store.list_jobs(filt)

    def events(self, job_id: str, after_seq: int = 0) -> list[StoredEvent]:
        """A job's journal (its streamed events as received), in order, after `after_seq`."""
        return self.journal.read(self.store.get_job(job_id).id, after_seq=after_seq)

    def watch(self, job_ids: Sequence[str], *, seconds: float = 60.0) -> None:
        """Mark jobs as followed for `seconds`: workers stream them before the others."""
        self.journal.watch(list(job_ids), self.clock.now() + timedelta(seconds=seconds))

    def chain(self, job: Job) -> list[Job]:
        """The conversation this job belongs to, oldest turn first (ancestors, itself)."""
        turns, seen = [job], {job.id}
        while turns[0].parent_job_id and turns[0].parent_job_id not in seen:
            parent = self.store.find_job(turns[0].parent_job_id)
            if parent is None:
                break
            seen.add(parent.id)
            turns.insert(0, parent)
        return turns

    # -- submitting --------------------------------------------------------------------------------

    def create_job(self, spec: SubmitSpec) -> Job:
        """Validate and record a job as `pending`; nothing is sent. The write-ahead step."""
        job = self._insert_turn(self.build_job(spec), spec)
        if spec.budget is not None:
            self.budgets.set("job", job.id, spec.budget)
        return job

    def build_job(self, spec: SubmitSpec, *, job_id: str | None = None) -> Job:
        """The job row for a spec, checked, not recorded (a batch records many in one go, with
        ids from JobStore.free_job_ids)."""
        check_spec(spec)
        model = None if spec.agent else (spec.model or self.settings["defaults.model"])
        parent: Job | None = None
        if spec.continue_job:
            parent = self.store.get_job(spec.continue_job)
            if parent.job_status.is_terminal and parent.job_status is not JobStatus.COMPLETED:
                raise UsageError(
                    f"job {parent.id} ended {parent.status}; only a completed job can be continued"
                )
            if not spec.agent and not spec.model and parent.agent:
                raise UsageError(
                    f"job {parent.id} ran agent {parent.agent}; give --model or --agent for the next turn"
                )

        job = Job(
            id=job_id or self.store.free_job_id(),
            model=model,
            agent=spec.agent,
            created_at=self.clock.now(),
        )
        body: dict[str, Any] = {"input": spec.prompt}
        if spec.agent:
            body["agent"] = spec.agent
            body["agent_config"] = spec.agent_config or _default_agent_config(spec.agent)
        else:
            body["model"] = model
            if spec.generation_config:
                body["generation_config"] = spec.generation_config
        if spec.system:
            body["system_instruction"] = spec.system
        if spec.service_tier:
            body["service_tier"] = spec.service_tier
        # The label that names the local job, so a create is always traceable to its row. Stored
        # now, with the request as it will be sent, so that submitting never rewrites the request
        # (a 50 MB prompt is written once).
        body["labels"] = {**spec.labels, JOB_LABEL: job.id}
        body.update(self.webhooks.request_fields(job.id))  # also known now: no rewrite at send
        if parent is not None:
            job.parent_job_id = parent.id
            job.previous_interaction_id = parent.interaction_id
            if parent.interaction_id:
                body["previous_interaction_id"] = parent.interaction_id
        # With the prompt itself, which the store digests and indexes (no parse of the JSON).
        body = {k: v for k, v in body.items() if v is not None}
        job.attach_request(json.dumps(body, ensure_ascii=False), spec.prompt, body=body)
        # From the start of the prompt only: splitting a 50 MB prompt into words costs ~10x its size.
        job.prompt_excerpt = " ".join(spec.prompt[:1000].split())[:200]
        return job

    @functools.cached_property
    def budgets(self) -> Any:
        """Budget rules (service/budgets.py); the worker calls `budgets.enforce(now)` each pass."""
        from jobs.service.budgets import Budgets

        return Budgets(self)

    def _insert_turn(self, job: Job, spec: SubmitSpec) -> Job:
        """Record a continuing turn. A conversation is a line: refuse a second successor of one
        turn, in the transaction that inserts the job (two concurrent --continue cannot both
        pass), unless a branch was asked for."""
        parent_id = job.parent_job_id
        if parent_id is None or spec.branch:
            return self.store.insert_job(job, spec.labels, self.clock.now())
        inserted, successor = self.store.insert_successor(
            job, spec.labels, self.clock.now(), dead_ends=DEAD_END_STATUSES
        )
        if inserted is None:
            assert successor is not None
            latest = self.latest_turn(successor)
            raise UsageError(
                f"job {parent_id} already continues in {successor.id}"
                + (f" (latest turn: {latest.id})" if latest.id != successor.id else "")
                + f"; continue the latest turn (`gjobs submit --continue {latest.id} ...`), "
                f"or add --branch to start a second line from {parent_id}"
            )
        return inserted

    def latest_turn(self, job: Job) -> Job:
        """The last live turn of the line that starts at `job` (following first successors)."""
        seen = {job.id}
        while True:
            children = [
                c
                for c in self.store.children_of(job.id)
                if c.id not in seen and c.status not in DEAD_END_STATUSES
            ]
            if not children:
                return job
            job = children[0]
            seen.add(job.id)

    def submit_new(self, spec: SubmitSpec) -> Job:
        """Record a job, then submit it at once unless it waits on its predecessor."""
        check_spec(spec)  # a usage error first, before "no key"
        self.gateway_ready()
        job = self.create_job(spec)
        body = job.take_request_body()
        if job.parent_job_id:
            parent = self.store.get_job(job.parent_job_id)
            if not parent.job_status.is_terminal:
                return job  # waits; the worker (or --wait) submits it when the parent completes
        # The body as recorded, still in memory: sent without reading the request back (a 50 MB
        # prompt would be read and parsed again).
        self._built_bodies[job.id] = body
        try:
            return self.submit(job.id, wait_budget=float(self.settings["submit.max_wait"]))
        except (Unreachable, AuthFailed):
            # Certainly nothing was created, and the user must fix the setup first: leave no trace.
            self.store.delete_job(job.id)
            raise
        finally:
            self._built_bodies.pop(job.id, None)

    def gateway_ready(self) -> None:
        """Fail before recording anything if no API call could be made (e.g. no key)."""
        self.gateway._interactions()

    def submit(self, job_id: str, *, wait_budget: float = 0.0) -> Job:
        """Send a pending job's create. Waits out 429s and refused connections within `wait_budget` seconds, then leaves
        the job pending for the worker. Raises for errors the user must see."""
        deadline = self.clock.monotonic() + wait_budget
        while True:
            try:
                delay = self._submit_once(job_id)
            except StoreError as exc:
                if job_id not in self._deferred:
                    raise
                # The API created it but the store refused its id: retry the write while this
                # process lives (within the budget; the spool keeps it after that).
                self._retry_deferred(job_id, deadline, exc)
                delay = None
            job = self.store.get_job(job_id)
            if not isinstance(delay, float) or job.job_status is not JobStatus.PENDING:
                return job
            if self.clock.monotonic() + delay > deadline:
                return job
            self.clock.sleep(delay)

    def _submit_once(self, job_id: str) -> float | str | None:
        """One create attempt. Returns a delay when the job went back to pending to retry,
        _CREATED when the API answered with an interaction, None otherwise."""
        now = self.clock.now()
        if not self.sendable([job_id], now):
            return None
        job = self.store.claim_for_submit(job_id, self.owner, now, self.submit_lease_until(now))
        if job is None:
            return None
        return self.send_create(job)

    def sendable(self, job_ids: Sequence[str], now: datetime) -> list[str]:
        """The jobs that may be sent now: a batch past its budget submits no more lines (they
        are cancelled here, unsent), and a budgeted batch sends a few at a time."""
        refused, held = self.budgets.refused(job_ids)
        for job_id, why in refused.items():
            if self.store.cancel_unsent(job_id, now, reason=why):
                log.warning("job %s: cancelled before it was sent: %s", job_id, why)
        return [job_id for job_id in job_ids if job_id not in refused and job_id not in held]

    def submit_lease_until(self, now: datetime) -> datetime:
        """How long a submitter owns a job it moved to `submitting`: past the create timeout."""
        return now + timedelta(seconds=float(self.settings["api.create_timeout"]) + _SUBMIT_MARGIN)

    def send_create(self, job: Job, *, recorder: GroupRecorder | None = None) -> float | str | None:
        """The create of a job this process holds in `submitting` (write-ahead: claimed and
        committed before this call), and the recording of what it answered (in a group commit
        with other creates when `recorder` is given). Returns as _submit_once does."""
        job_id = job.id
        body = self._built_bodies.pop(job_id, None)
        if body is None and job.has_request():  # a group claim read it with the group's rows
            body = json.loads(job.request_json)
            job.detach_request()
        if body is None:  # the claimed row does not carry it
            body = json.loads(self.store.request_of(job_id))
        # The label and the turn before are in the stored request unless they were not known when
        # the job was recorded (a turn queued behind one still being created): added here, and
        # then (only then) the request is stored again as it was sent.
        # The same for the webhook a create asks for (webhooks.public_url may be set since).
        added_at_send = ("labels", "previous_interaction_id", "webhook_config")
        sent = {key: body.get(key) for key in added_at_send}
        body["labels"] = {**body.get("labels", {}), JOB_LABEL: job.id}
        body.update(self.webhooks.request_fields(job.id))
        if job.parent_job_id:
            parent = self.store.get_job(job.parent_job_id)
            if parent.interaction_id:
                body["previous_interaction_id"] = parent.interaction_id
        changed = sent != {key: body.get(key) for key in added_at_send}
        crash_point("submit.before_create")
        try:
            remote = self.gateway.create(body)
        except NotSent as exc:  # 429, connection refused: certainly not created
            delay = self._retry_delay(exc, job.submit_attempts)
            if isinstance(exc, RateLimited):
                self._pause(delay)
            self._release_submit(
                job_id,
                JobStatus.PENDING,
                _code(exc),
                f"{exc} (will retry in {delay:.0f}s)",
                retry_in=delay,
            )
            if isinstance(exc, Unreachable):
                raise
            return delay
        except AuthFailed as exc:
            self._release_submit(job_id, JobStatus.PENDING, _code(exc), str(exc), retry_in=300.0)
            raise
        except Rejected as exc:
            self._release_submit(
                job_id, JobStatus.FAILED, _code(exc), f"the API refused the request: {exc}"
            )
            return None
        except (OutcomeUnknown, GatewayError) as exc:
            self._release_submit(
                job_id,
                JobStatus.SUBMIT_UNKNOWN,
                "submit_unknown",
                f"{exc}; not retried automatically (see `gjobs resubmit {job_id}`)",
            )
            return None
        crash_point("submit.after_create")
        self._rate_limit_strikes = 0
        try:
            self._write_or_defer(
                job_id,
                lambda: self._record_created(job, body, remote, changed=changed, recorder=recorder),
            )
        except StoreError as exc:
            # A paid run that nothing tracks yet: keep its id on disk, beside the store.
            kept = self.recovery.spool.keep(job_id, remote.id, remote.status)
            where = (
                f"kept in {kept}; the next worker pass records it"
                if kept
                else f"record it later with `gjobs adopt {job_id} {remote.id}`"
            )
            error = StoreError(
                f"{exc}; job {job_id} was sent (interaction {remote.id}) but could not be "
                f"recorded yet ({where})"
            )
            self._unrecorded[job_id] = error
            raise error from exc
        return _CREATED

    def _record_created(
        self,
        job: Job,
        body: dict[str, Any],
        remote: RemoteInteraction,
        *,
        changed: bool = True,
        recorder: GroupRecorder | None = None,
    ) -> None:
        """Commit the interaction id of a job just created remotely, then act on what it says."""
        status = JobStatus.from_remote(remote.status)
        now = self.clock.now()
        entry = Submitted(
            job.id,
            self.owner,
            interaction_id=remote.id,
            remote_status=remote.status,
            status=JobStatus.UNKNOWN if status.is_terminal else status,
            request_json=json.dumps(body, ensure_ascii=False) if changed else None,
            remote_created=remote.created,
            remote_updated=remote.updated,
            now=now,
            next_poll_at=now + timedelta(seconds=self._poll_delay(job, now)),
            previous_interaction_id=body.get("previous_interaction_id"),
        )
        cancel_pending: bool | None = None  # not known: read the job again below
        if recorder is None:
            recorded = self.store.record_submitted(**vars(entry))
        else:
            outcome = recorder.record(entry)
            recorded, cancel_pending = outcome.recorded, outcome.cancel_pending
        try:
            if recorded and cancel_pending is False and not status.is_terminal:
                return  # recorded, nothing left to do: no need to read the job again
            if (
                not recorded
                and (gone := self.store.find_job(job.id))
                and gone.interaction_id == remote.id
            ):
                return  # recorded meanwhile from the spool (recovery.replay_spool): all is well
            if not recorded:
                # Our lease ran out while create was in flight, and the job has moved on since it
                # was marked submit_unknown: cancelled, deleted or resubmitted by the user. Nobody
                # will ever poll this interaction or read its output; stop the run rather than pay
                # for it (best effort).
                gone = self.store.find_job(job.id)
                log.warning(
                    "job %s (%s): interaction %s came too late to be recorded; cancelling it",
                    job.id,
                    gone.status if gone else "deleted",
                    remote.id,
                )
                self.gateway.cancel(remote.id)
                return
            fresh = self.store.get_job(job.id)
            if status.is_terminal:
                self._record_remote(fresh, remote, owner=None)
                fresh = self.store.get_job(job.id)
            if fresh.cancel_requested_at and not fresh.cancel_sent_at:
                self._send_cancel(fresh)
        except (GatewayError, StoreError) as exc:
            # The id is safe; the worker's next poll of this job finishes what is left (it claims
            # jobs with an unsent cancel too).
            log.warning(
                "job %s: recorded interaction %s; follow-up failed, left to the worker: %s",
                job.id,
                remote.id,
                exc,
            )

    def _release_submit(
        self, job_id: str, to: JobStatus, code: str, message: str, *, retry_in: float | None = None
    ) -> None:
        now = self.clock.now()
        next_attempt = now + timedelta(seconds=retry_in) if retry_in is not None else None
        self._write_or_defer(
            job_id,
            lambda: self.store.release_submit(
                job_id,
                self.owner,
                to=to,
                now=now,
                next_attempt_at=next_attempt,
                error_code=code,
                error_message=message,
            ),
        )

    def _write_or_defer(self, job_id: str, write: Callable[[], object]) -> None:
        """Run a write that records what the API just did. If the store cannot take it now (full,
        locked, unreachable), keep it and try again at the start of the next pass, so a worker that
        lives on records what it knows instead of leaving the job to become submit_unknown."""
        try:
            write()
        except StoreError:
            self._deferred[job_id] = write
            raise
        self._deferred.pop(job_id, None)

    def _retry_deferred(self, job_id: str, deadline: float, error: StoreError) -> None:
        pause = 0.5
        while True:
            wait = min(pause, deadline - self.clock.monotonic())
            if wait <= 0:
                raise self._unrecorded.get(job_id, error)
            self.clock.sleep(wait)
            pause = min(pause * 2, 5.0)
            try:
                self._deferred[job_id]()
            except StoreError:
                continue
            self._deferred.pop(job_id, None)
            self._forget_unrecorded(job_id)
            return

    def _forget_unrecorded(self, job_id: str) -> None:
        if self._unrecorded.pop(job_id, None) is not None:
            self.recovery.spool.drop(job_id)

    def _flush_deferred(self) -> None:
        for job_id, write in list(self._deferred.items()):
            write()  # a StoreError ends the pass; the write stays queued
            del self._deferred[job_id]
            self._forget_unrecorded(job_id)

    def resubmit(self, job_id: str) -> Job:
        """Explicitly resubmit a `submit_unknown` job (it may then run, and be paid for, twice)."""
        job = self.store.get_job(job_id)
        if job.job_status is not JobStatus.SUBMIT_UNKNOWN:
            raise InvalidTransition(
                f"job {job.id} is {job.status}; only submit_unknown jobs can be resubmitted"
            )
        if job.id in self.recovery.replay_spool():  # its id was kept: adopted, not paid again
            job = self.store.get_job(job.id)
            raise InvalidTransition(
                f"job {job.id} is {job.status}: its interaction {job.interaction_id} was recovered "
                "from the spool; nothing was resubmitted"
            )
        self.gateway_ready()
        if not self.store.reset_for_resubmit(job.id, self.clock.now()):
            raise InvalidTransition(f"job {job.id} changed meanwhile; see `gjobs show {job.id}`")
        return self.submit(job.id, wait_budget=float(self.settings["submit.max_wait"]))

    # -- polling -----------------------------------------------------------------------------------

    def run_pass(
        self, *, job_ids: Sequence[str] | None = None, limit: int | None = None
    ) -> PassReport:
        """One pass of the worker: recover, submit what is ready, poll what is due."""
        report = PassReport()
        if not self.begin_pass(report):
            return report
        batch = limit or int(self.settings["worker.batch"])
        now = self.clock.now()
        for job_id in self.store.submittable_ids(now, batch, job_ids):
            try:
                # Counted only when the create reached the API and was not refused (a 429 or a refused
                # connection leaves the job pending: nothing was submitted).
                report.submitted += self._submit_once(job_id) is _CREATED
            except GatewayError as exc:  # left pending by _submit_once; try again next pass
                log.warning("job %s: %s", job_id, exc)
                report.errors += 1
            if self._paused():
                return report
        # Claim a few at a time so a lease always outlives the calls made under it.
        timeout = float(self.settings["api.timeout"])
        lease = float(self.settings["worker.lease"])
        chunk = max(1, int(lease // (2 * max(timeout, 1.0))))
        remaining = batch
        while remaining > 0 and not self._paused():
            now = self.clock.now()
            claimed = self.store.claim_due(
                self.owner, now, now + timedelta(seconds=lease), min(chunk, remaining), job_ids
            )
            if not claimed:
                break
            for index, job in enumerate(claimed):
                if self._paused():
                    # A 429 slows the whole worker: hand the rest back, still due, unpolled.
                    self.store.release_all([j.id for j in claimed[index:]], self.owner)
                    break
                outcome = self.recorder.poll_job(job)
                report.polled += 1
                report.finished += outcome == "finished"
                report.errors += outcome == "error"
            remaining -= len(claimed)
        return report

    def begin_pass(self, report: PassReport) -> bool:
        """What every pass does first: retry deferred writes, mark dead submitters' jobs
        submit_unknown, fail orphans. False while a 429 pauses this process."""
        self._flush_deferred()  # before anything can mark those jobs submit_unknown
        self.recovery.replay_spool()  # ids another (dead) process could not record
        now = self.clock.now()
        report.marked_unknown = len(self.store.mark_stale_submissions(now))
        self.store.fail_orphans(now)
        if self.paused_until and now < self.paused_until:
            report.paused_for = (self.paused_until - now).total_seconds()
            return False
        return True

    # Recording what the API said lives in service/record.py (`self.recorder`); these two names
    # stay for the submit path's callers.
    def _record_remote(self, job: Job, remote: RemoteInteraction, *, owner: str | None) -> bool:
        return self.recorder.record_remote(job, remote, owner=owner)

    def _poll_delay(self, job: Job, now: datetime) -> float:
        return self.recorder.poll_delay(job, now)

    # -- cancelling and deleting -------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: locally if never sent, else exactly one remote cancel; the final status
        comes from the server."""
        job = self.store.get_job(job_id)
        if job.job_status.is_terminal:
            raise InvalidTransition(f"job {job.id} already ended {job.status}; nothing to cancel")
        if job.job_status in (
            JobStatus.PENDING,
            JobStatus.SUBMIT_UNKNOWN,
        ) and self.store.cancel_unsent(job.id, self.clock.now()):
            return self.store.get_job(job.id)
        job, _first = self.store.request_cancel(job.id, self.clock.now())
        if job.interaction_id and not job.cancel_sent_at:
            self.gateway_ready()
            return self._send_cancel(job)
        return job  # submitting: the submitter sends the cancel as soon as it has the id

    def _send_cancel(self, job: Job) -> Job:
        if not self.store.take_cancel_send(job.id, self.clock.now()):
            return self.store.get_job(job.id)  # someone else sent it, or it ended meanwhile
        assert job.interaction_id
        try:
            remote = self.gateway.cancel(job.interaction_id)
        except (Rejected, RemoteNotFound):
            # Finished (or gone) before the cancel arrived: the server's own status decides.
            try:
                remote = self.gateway.get(job.interaction_id)
                if not JobStatus.from_remote(remote.status).is_terminal:
                    # still running: the cancel did not take (the service answers 404 for a live
                    # interaction at times); the next pass sends it again
                    self.store.retry_cancel_later(job.id)
            except RemoteNotFound:
                self.store.record_terminal(
                    job.id,
                    status=JobStatus.EXPIRED,
                    remote_status=None,
                    now=self.clock.now(),
                    result=TerminalResult(),
                    usage={},
                    error_code="not_found",
                    error_message="the API no longer has this interaction",
                )
                return self.store.get_job(job.id)
        except (RateLimited, Unreachable):
            # 429 or a refused connection: the cancel certainly did not arrive; send it again.
            self.store.retry_cancel_later(job.id)
            raise
        except GatewayError as exc:
            # The reply was lost (500 or 503 after acting, timeout, reset): the cancel may well
            # have been applied. Never send a second one while its fate is unknown; the next `get` decides.
            return self._after_lost_cancel_reply(job, exc)
        crash_point("cancel.after_send")
        if not self.recorder.record_remote(job, remote, owner=None):
            # Not terminal yet (the server is still stopping it): poll it again soon.
            self.store.poll_soon(job.id, self.clock.now())
        return self.store.get_job(job.id)

    def _after_lost_cancel_reply(self, job: Job, exc: GatewayError) -> Job:
        assert job.interaction_id
        log.info("job %s: the cancel's reply was lost (%s); reading the job's state", job.id, exc)
        try:
            remote = self.gateway.get(job.interaction_id)
        except GatewayError as get_exc:
            # Still unknown: the cancel stays "sent"; the worker's polls record how the job ends.
            log.warning(
                "job %s: cancel sent but its reply was lost (%s) and the job could not be read "
                "(%s); the worker records the final status",
                job.id,
                exc,
                get_exc,
            )
            self.store.poll_soon(job.id, self.clock.now())
            return self.store.get_job(job.id)
        if not self.recorder.record_remote(job, remote, owner=None):
            # The server says it is still running: that cancel did not take; the next pass (or
            # the user) may send one, knowing the first had no effect.
            self.store.retry_cancel_later(job.id)
            self.store.poll_soon(job.id, self.clock.now())
        return self.store.get_job(job.id)

    def delete(self, job_id: str, *, remote: bool = True) -> None:
        """Delete a job locally and (unless remote=False) its stored interaction remotely."""
        job = self.store.get_job(job_id)
        waiting = [
            c.id for c in self.store.children_of(job.id) if c.job_status is JobStatus.PENDING
        ]
        if waiting:
            # Deleting it would send the follow-up as a new conversation, without this turn.
            raise InvalidTransition(
                f"job {', '.join(waiting)} waits to continue {job.id}'s conversation; "
                f"cancel or delete it first (`gjobs cancel {waiting[0]}`)"
            )
        if remote and job.interaction_id and job.job_status is not JobStatus.EXPIRED:
            self.gateway_ready()
            if not job.job_status.is_terminal and not job.cancel_sent_at:
                with contextlib.suppress(InvalidTransition, Rejected):
                    self.cancel(job.id)
            with contextlib.suppress(RemoteNotFound):
                self.gateway.delete(job.interaction_id)
        self.store.delete_job(job.id)

    # -- waiting -----------------------------------------------------------------------------------

    def wait(
        self,
        job_id: str,
        *,
        on_update: Callable[[Job], None] | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Follow a job (and the turns it waits on) until it is terminal or needs the user."""
        job = self.store.get_job(job_id)
        ids = [j.id for j in self.chain(job)]
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        last_status = None
        while True:
            job = self.store.get_job(job.id)
            if job.status != last_status and on_update:
                on_update(job)
            last_status = job.status
            if job.job_status.is_terminal or job.job_status in (
                JobStatus.SUBMIT_UNKNOWN,
                JobStatus.REQUIRES_ACTION,
            ):
                return job
            if deadline is not None and self.clock.monotonic() >= deadline:
                return job
            self.run_pass(job_ids=ids)
            self.clock.sleep(self._wait_step(ids))

    def _wait_step(self, ids: Sequence[str]) -> float:
        now = self.clock.now()
        times = [j.next_poll_at for i in ids if (j := self.store.find_job(i)) and j.next_poll_at]
        if self.paused_until and self.paused_until > now:
            times.append(self.paused_until)
        if not times:
            return float(self.settings["polling.min_interval"])
        return min(
            max(0.2, (min(times) - now).total_seconds()),
            float(self.settings["polling.agent_max_interval"]),
        )

    # -- pacing ------------------------------------------------------------------------------------

    def _retry_delay(self, exc: NotSent, attempt: int) -> float:
        if exc.retry_after is not None:
            return exc.retry_after
        cap = float(self.settings["polling.max_error_backoff"])
        return self.rng.uniform(0, min(cap, 2.0 * 2 ** min(attempt, 20))) + 1.0

    def _pause(self, seconds: float) -> None:
        self._rate_limit_strikes += 1
        until = self.clock.now() + timedelta(seconds=seconds)
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until

    def _paused(self) -> bool:
        return self.paused_until is not None and self.clock.now() < self.paused_until


def _default_agent_config(agent: str) -> dict[str, Any] | None:
    if "deep-research" in agent:
        return {"type": "deep-research", "thinking_summaries": "auto"}
    return None


def _code(exc: GatewayError) -> str:
    return f"http_{exc.status_code}" if exc.status_code else type(exc).__name__.lower()
