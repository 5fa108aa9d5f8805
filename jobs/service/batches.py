"""Batches: a file of prompts recorded at once as ordinary jobs, then submitted at a bounded
concurrency and rate through the service's own submit path (write-ahead, SDK retries off, the
process-wide 429 pause), never twice.

Order of things (reliability.md): the whole file is validated; the batch and every line's job are
committed as `pending` in one transaction; only then is anything sent. Submitting a pending job is
the same compare-and-set claim the worker uses, so a `batch submit`, a `batch resume` and any number
of workers can run at once and each line is still created once. A crash at any point leaves pending
lines (resumed by `batch resume` or the worker) or, for a create in flight, `submit_unknown` (never
resubmitted without the user's word).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from jobs.errors import GatewayError, InvalidTransition, StoreError
from jobs.models import Batch, BatchLine, Job, JobStatus, new_job_id
from jobs.service.batch_file import ParsedBatch, parse_batch
from jobs.service.batch_submit import SubmitReport, Submitter
from jobs.service.core import JOB_LABEL, JobService, SubmitSpec
from jobs.store.batches import LIVE_STATUSES, BatchCounts, BatchNotFound, BatchStore, NewLine

log = logging.getLogger(__name__)

# Ended without completing: `batch retry` gives these lines a new job (submit_unknown only on request:
# its create may have happened, so a retry may pay twice).
RETRYABLE = (
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.EXPIRED,
    JobStatus.INCOMPLETE,
    JobStatus.BUDGET_EXCEEDED,
)


@dataclass
class Recorded:
    batch: Batch
    added: int
    already: int  # lines of the file the batch had already recorded (not sent again)


@dataclass
class BatchSummary:
    batch: Batch
    counts: BatchCounts
    failures: list[tuple[BatchLine, Job]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.counts.live == 0

    @property
    def all_completed(self) -> bool:
        return self.counts.total > 0 and self.counts.completed == self.counts.total


class BatchService:
    def __init__(self, service: JobService) -> None:
        self.service = service
        self.store = BatchStore(service.store.db)

    # -- recording ---------------------------------------------------------------------------------

    def parse(
        self, raw: bytes, *, source: str, fmt: str = "auto", defaults: SubmitSpec | None = None
    ) -> ParsedBatch:
        return parse_batch(raw, source=source, fmt=fmt, defaults=defaults)

    def record(
        self,
        parsed: ParsedBatch,
        *,
        name: str,
        notify: str | None = None,
        schedule_id: int | None = None,
        guard: Callable[[Session], bool] | None = None,
        after: Callable[[Session, Batch], None] | None = None,
    ) -> Recorded | None:
        """Record the batch and the lines it has not seen, as pending jobs, in one transaction
        (None: `guard` refused, nothing written)."""
        now = self.service.clock.now()
        ids = self.service.store.free_job_ids(len(parsed.lines))
        lines = [
            NewLine(
                p.line_no,
                p.line_key,
                self.service.build_job(p.spec, job_id=job_id),
                dict(p.spec.labels),
            )
            for p, job_id in zip(parsed.lines, ids, strict=True)
        ]
        for line in lines:
            line.job.created_at = now
        batch = Batch(
            id=new_job_id(),
            name=name,
            source=parsed.source,
            content_hash=parsed.content_hash,
            created_at=now,
            updated_at=now,
            schedule_id=schedule_id,
        )
        target = notify if notify is not None else (self.service.settings["notify.default"] or None)
        recorded, added = self.store.record(
            batch, lines, now, notify_target=target or None, guard=guard, after=after
        )
        if recorded is None:
            return None
        return Recorded(recorded, len(added), len(lines) - len(added))

    # -- submitting --------------------------------------------------------------------------------

    def submit_pending(
        self,
        batch_id: str,
        *,
        concurrency: int | None = None,
        rate: float | None = None,
        max_wait: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> SubmitReport:
        """Send the batch's pending lines: `concurrency` creates in flight, at most `rate` a second,
        all of them paused while the server's 429 delay runs. What cannot be sent within
        `max_wait` seconds of waiting is left pending for the worker."""
        settings = self.service.settings
        submitter = Submitter(
            self.service,
            self.store.job_ids(batch_id, [JobStatus.PENDING.value]),
            concurrency=max(1, concurrency or int(settings["batch.concurrency"])),
            rate=float(settings["batch.rate"]) if rate is None else rate,
            max_wait=float(settings["batch.max_wait"]) if max_wait is None else max_wait,
            on_progress=on_progress,
        )
        if submitter.total:
            self.service.gateway_ready()
        return submitter.run()

    # -- reading -----------------------------------------------------------------------------------

    def get(self, batch_ref: str) -> Batch:
        """By id or name; a file path given as on the command line finds its default name."""
        try:
            return self.store.get(batch_ref)
        except BatchNotFound:
            absolute = str(Path(batch_ref).expanduser().absolute())
            found = self.store.find_by_name(absolute) if absolute != batch_ref else None
            if found is None:
                raise
            return found

    def summary(self, batch_ref: str) -> BatchSummary:
        batch = self.get(batch_ref)
        counts = self.store.counts([batch.id])[batch.id]
        not_ok = [
            s.value for s in JobStatus if s is not JobStatus.COMPLETED and s not in LIVE_STATUSES
        ]
        failures = self.store.lines(batch.id, statuses=not_ok) if counts.not_completed else []
        return BatchSummary(batch, counts, failures)

    def list(self, *, limit: int = 50) -> list[tuple[Batch, BatchCounts]]:
        batches = self.store.list(limit=limit)
        counts = self.store.counts([b.id for b in batches])
        return [(b, counts[b.id]) for b in batches]

    # -- following ---------------------------------------------------------------------------------

    def wait(
        self,
        batch_ref: str,
        *,
        on_update: Callable[[BatchSummary], None] | None = None,
        timeout: float | None = None,
    ) -> BatchSummary:
        """Drive the batch's live lines (submit, poll) until none is live; then run due hooks."""
        service = self.service
        batch = self.get(batch_ref)
        deadline = None if timeout is None else service.clock.monotonic() + timeout
        while True:
            summary = self.summary(batch.id)
            if on_update:
                on_update(summary)
            if summary.ended or (deadline is not None and service.clock.monotonic() >= deadline):
                break
            live = self.store.job_ids(batch.id, [s.value for s in LIVE_STATUSES])
            for start in range(0, len(live), 200):
                service.run_pass(job_ids=live[start : start + 200], limit=len(live))
            service.clock.sleep(self._wait_step(batch.id))
        with contextlib.suppress(StoreError):
            service.notify.run_due(service.clock.now())
        return self.summary(batch.id)

    def _wait_step(self, batch_id: str) -> float:
        service = self.service
        now = service.clock.now()
        times = [t for t in [self.store.earliest_due(batch_id)] if t is not None]
        if service.paused_until and service.paused_until > now:
            times.append(service.paused_until)
        if not times:
            return float(service.settings["polling.min_interval"])
        return min(max(0.2, (min(times) - now).total_seconds()), 10.0)

    # -- acting on a batch -------------------------------------------------------------------------

    def cancel(self, batch_ref: str) -> BatchSummary:
        """Cancel every live line (never-sent ones locally; the rest with one remote cancel each)."""
        batch = self.get(batch_ref)
        self.store.mark_cancelled(batch.id, self.service.clock.now())
        for job_id in self.store.job_ids(batch.id, [s.value for s in LIVE_STATUSES]):
            with contextlib.suppress(InvalidTransition):
                try:
                    self.service.cancel(job_id)
                except GatewayError as exc:
                    # Recorded as requested: the worker sends it.
                    log.warning("job %s: cancel left to the worker: %s", job_id, exc)
        return self.summary(batch.id)

    def retry(self, batch_ref: str, *, include_unknown: bool = False) -> list[str]:
        """Give each line that ended without completing a new pending job; returns the new ids."""
        batch = self.get(batch_ref)
        statuses = [s.value for s in RETRYABLE]
        if include_unknown:
            statuses.append(JobStatus.SUBMIT_UNKNOWN.value)
        now = self.service.clock.now()
        created = []
        for line, old in self.store.lines(batch.id, statuses=statuses):
            full = self.service.store.get_job(old.id)  # with its request
            job, labels = _retry_job(full, self.service.store.labels_for([old.id])[old.id], now)
            if self.store.replace_line_job(batch.id, line.line_key, old.id, job, labels, now):
                created.append(job.id)
        return created


def _retry_job(old: Job, labels: dict[str, str], now: datetime) -> tuple[Job, dict[str, str]]:
    """A new pending job with the same request as `old` (minus what the submitter adds)."""
    body = json.loads(old.request_json or "{}")
    body.pop("previous_interaction_id", None)
    body["labels"] = {k: v for k, v in body.get("labels", {}).items() if k != JOB_LABEL}
    job = Job(
        id=new_job_id(),
        model=old.model,
        agent=old.agent,
        prompt_excerpt=old.prompt_excerpt,
        request_json=json.dumps(body, ensure_ascii=False),
        request_input=body.get("input"),
        created_at=now,
    )
    return job, labels


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def batch_dict(summary: BatchSummary) -> dict:
    """The JSON contract of a batch (`batch show --json`, notifications)."""
    batch, counts = summary.batch, summary.counts
    return {
        "id": batch.id,
        "name": batch.name,
        "source": batch.source,
        "content_hash": batch.content_hash,
        "line_count": batch.line_count,
        "created_at": _iso(batch.created_at),
        "cancelled_at": _iso(batch.cancelled_at),
        "schedule_id": batch.schedule_id,
        "ended": summary.ended,
        "all_completed": summary.all_completed,
        "counts": dict(sorted(counts.by_status.items())),
        "completed": counts.completed,
        "running": counts.running,
        "live": counts.live,
        "not_completed": counts.not_completed,
        "total_tokens": counts.total_tokens,
        "failures": [
            {
                "line": line.line_no,
                "line_key": line.line_key,
                "job_id": job.id,
                "status": job.status,
                "error": job.error_message,
            }
            for line, job in summary.failures
        ],
    }
