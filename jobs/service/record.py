"""The one place where what the API says about an interaction is applied to the store.

`Recorder` (held by the JobService as `service.recorder`) records a poll, a stream's confirming
`get`, a webhook's or a cancel's reply: a terminal status is written with its outputs, thoughts,
steps and usage in one transaction (`JobStore.record_terminal`), guarded by status and, for a
leased job, by the lease owner; anything else is a non-terminal poll with the adaptive pacing
below. A failed poll (404 after retention, 429, a malformed reply, transient errors) follows one
rule whichever way the job was being followed (`poll_failed`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from jobs.crash import crash_point
from jobs.errors import GatewayError, RateLimited, RemoteNotFound, StoreError, Transient
from jobs.gateway import RemoteInteraction
from jobs.models import Job, JobStatus
from jobs.payloads import compact_steps
from jobs.store import TerminalResult
from jobs.store.tracking import TerminalWrite, TrackingStore

if TYPE_CHECKING:
    from datetime import datetime

    from jobs.service.core import JobService

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, service: JobService) -> None:
        self.service = service
        self.tracking = TrackingStore(service.store.db)

    # -- polling one job ---------------------------------------------------------------------------

    def poll_job(self, job: Job) -> str:
        """Poll one leased job and record what the API says. Returns finished|polled|error."""
        service = self.service
        if job.cancel_requested_at and not job.cancel_sent_at:
            service.store.release(job.id, service.owner)
            try:
                return "finished" if service._send_cancel(job).job_status.is_terminal else "polled"
            except GatewayError as exc:
                log.warning("job %s: cancel failed, will retry: %s", job.id, exc)
                return "error"
        assert job.interaction_id
        try:
            remote = service.gateway.get(job.interaction_id)
        except GatewayError as exc:
            return self.poll_failed(job, exc)
        crash_point("poll.after_get")
        return "finished" if self.record_remote(job, remote, owner=service.owner) else "polled"

    def poll_failed(self, job: Job, exc: GatewayError) -> str:
        """Record a failed poll of a leased job (one rule for every way of polling). Returns
        finished (the API forgot it: expired) or error."""
        service = self.service
        try:
            raise exc
        except RemoteNotFound:
            # The API forgets interactions after its retention period; we have no output saved.
            ok = service.store.record_terminal(
                job.id,
                status=JobStatus.EXPIRED,
                remote_status=None,
                now=service.clock.now(),
                result=TerminalResult(),
                usage={},
                owner=service.owner,
                error_code="not_found",
                error_message="the API no longer has this interaction (deleted or past its retention)",
            )
            return "finished" if ok else "polled"
        except RateLimited as exc:
            delay = service._retry_delay(exc, service._rate_limit_strikes)
            service._pause(delay)
            self.poll_error(job, str(exc), min_delay=delay)
            return "error"
        except Transient as exc:
            if exc.status_code == 200:  # a malformed reply: keep the job visible as unknown
                now = service.clock.now()
                service.store.record_poll(
                    job.id,
                    service.owner,
                    status=JobStatus.UNKNOWN,
                    remote_status=None,
                    remote_updated=None,
                    now=now,
                    next_poll_at=now + timedelta(seconds=self.error_delay(job)),
                    error_code="malformed_reply",
                    error_message=str(exc),
                    detail=str(exc),
                )
            else:
                self.poll_error(job, str(exc))
            return "error"
        except GatewayError as exc:  # auth, unreachable, rejected: keep polling, slowly, loudly
            log.warning("job %s: %s", job.id, exc)
            self.poll_error(job, str(exc))
            return "error"

    # -- recording what the API said ---------------------------------------------------------------

    def record_remote_unowned(self, job: Job, remote: RemoteInteraction) -> bool:
        """Record what the API said about a job nobody holds a lease on (adopt, cancel)."""
        return self.record_remote(job, remote, owner=None)

    def record_remote(self, job: Job, remote: RemoteInteraction, *, owner: str | None) -> bool:
        """Store what the API said; True when the job became terminal."""
        service = self.service
        status = JobStatus.from_remote(remote.status)
        now = service.clock.now()
        if status.is_terminal:
            write = self.terminal_write(job, remote)
            return service.store.record_terminal(
                job.id,
                status=write.status,
                remote_status=write.remote_status,
                now=now,
                remote_updated=write.remote_updated,
                owner=owner,
                error_code=write.error_code,
                error_message=write.error_message,
                result=write.result,
                usage=write.usage,
            )
        message = detail = None
        if status is JobStatus.UNKNOWN:
            # The reply as the API sent it goes into the job's history (job_events), the start of it
            # into the error message that `list` and `show` display.
            reply = json.dumps(remote.raw, ensure_ascii=False)
            message = f"unexpected status {remote.status!r} from the API: {reply[:500]}"
            detail = f"remote status {remote.status!r}; reply: {reply}"
        elif status is JobStatus.REQUIRES_ACTION:
            message = "the API is waiting for you (requires_action): see the interaction's steps"
        if owner is None:
            return False
        if remote.usage:  # usage while running (not every API version reports it): for budgets
            service.budgets.store.record_live(job.id, remote.usage, source="poll", now=now)
        service.store.record_poll(
            job.id,
            owner,
            status=status,
            remote_status=remote.status,
            remote_updated=remote.updated,
            now=now,
            next_poll_at=now + timedelta(seconds=self.poll_delay(job, now)),
            error_code="unknown_status" if status is JobStatus.UNKNOWN else None,
            error_message=message,
            detail=detail,
        )
        return False

    def record_terminals(
        self, items: Sequence[tuple[Job, RemoteInteraction]], *, owner: str
    ) -> list[bool | Exception]:
        """Terminal replies of many leased jobs, written together (`TrackingStore.record_terminals`:
        one transaction, each job's result with its status). For each item: True (recorded), False
        (it had ended or changed hands meanwhile) or the exception its write raised. A batch that
        fails as a whole (a statement error) is written again one job at a time, so one bad job
        does not lose the others; a store that cannot be used at all (StoreError) raises."""
        service = self.service
        writes = [self.terminal_write(job, remote) for job, remote in items]
        try:
            done = self.tracking.record_terminals(owner, writes, service.clock.now())
        except StoreError:
            raise
        except Exception:
            log.warning("a batch of %d terminal writes failed; writing them one by one", len(items))
            outcomes: list[bool | Exception] = []
            for write in writes:
                try:
                    outcomes.append(
                        bool(self.tracking.record_terminals(owner, [write], service.clock.now()))
                    )
                except StoreError:
                    raise
                except Exception as exc:
                    log.exception("job %s: its terminal result could not be written", write.job_id)
                    outcomes.append(exc)
            return outcomes
        return [write.job_id in done for write in writes]

    def terminal_write(self, job: Job, remote: RemoteInteraction) -> TerminalWrite:
        """What a terminal reply writes: status, outputs, thoughts, steps, usage, error."""
        store = self.service.store
        code, message = remote.error_summary()
        return TerminalWrite(
            job_id=job.id,
            status=JobStatus.from_remote(remote.status),
            remote_status=remote.status,
            remote_updated=remote.updated,
            error_code=code,
            error_message=message,
            result=TerminalResult(
                output_text=remote.output_text,
                thoughts=remote.thoughts,
                # a large prompt is in the request already: the steps name it (stored once)
                steps=compact_steps(remote.steps, lambda: store.input_digest(job.id)),
                usage=remote.usage,
                errors=remote.errors,
                raw=remote.raw,
            ),
            usage=remote.usage_figures(),
        )

    def poll_error(self, job: Job, message: str, *, min_delay: float = 0.0) -> None:
        service = self.service
        now = service.clock.now()
        delay = max(min_delay, self.error_delay(job))
        service.store.record_poll_error(
            job.id,
            service.owner,
            now=now,
            next_poll_at=now + timedelta(seconds=delay),
            message=message,
        )

    # -- pacing ------------------------------------------------------------------------------------

    def poll_delay(self, job: Job, now: datetime) -> float:
        """Poll often at first, then less: about ten polls over the time the job has run so far.
        A model answers in seconds; a research agent runs for many minutes."""
        settings = self.service.settings
        started = job.submitted_at or now
        elapsed = max(0.0, (now - started).total_seconds())
        lo = float(settings["polling.min_interval"])
        hi = float(settings["polling.agent_max_interval" if job.agent else "polling.max_interval"])
        base = self.service.webhooks.pacing(job, min(hi, max(lo, elapsed / 10)))
        return base * self.service.rng.uniform(0.9, 1.1)

    def error_delay(self, job: Job) -> float:
        """Full-jitter exponential backoff after a failed poll."""
        settings = self.service.settings
        cap = float(settings["polling.max_error_backoff"])
        base = float(settings["polling.min_interval"])
        ceiling = min(cap, base * 2 ** min(job.consecutive_errors + 1, 20))
        return max(base / 2, self.service.rng.uniform(0, ceiling))
