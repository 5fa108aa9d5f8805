"""Sending a batch's pending lines: a few threads, each create through JobService.send_create (the
one create path: SDK retries off, the job label, the process-wide 429 pause), with the store's
writes made a group at a time (store/submitting.py).

The threads claim the next few lines together, in one transaction, only when they run out of
claimed ones (at most one line a thread, so a crash leaves few claimed lines), and record the ids
of creates that return together in one transaction. Per line, the write-ahead rule is unchanged: its
claim is committed before its create is sent, its id as soon as its create returns; a claimed line
whose create was never sent (the submitter stopped, paused for a 429, or its lease ran short) goes
back to pending, unsent; a crash in between leaves claimed lines `submitting`, then
`submit_unknown`: never sent twice.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jobs.crash import crash_point
from jobs.errors import AuthFailed, GatewayError, StoreError, Unreachable
from jobs.models import Job, JobStatus
from jobs.store.submitting import GroupRecorder, SubmitStore

if TYPE_CHECKING:
    from jobs.service.core import JobService

log = logging.getLogger(__name__)

MAX_TRIES = 50  # create attempts per line in one `batch submit` before it is left to the worker

_SENT, _FAILED, _PENDING = "sent", "failed", "pending"  # what became of a line after one try


@dataclass
class SubmitReport:
    sent: int = 0  # creates that got an interaction id (or ended at once)
    left_pending: int = 0  # left for the worker (429/503 beyond the wait budget, or an error)
    failed: int = 0  # refused by the API, or submit_unknown
    error: str | None = None  # why submitting stopped early (no key, unreachable)


class Submitter:
    def __init__(
        self,
        service: JobService,
        job_ids: list[str],
        *,
        concurrency: int,
        rate: float,
        max_wait: float,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        self.service = service
        self.clock = service.clock
        self.todo = list(reversed(job_ids))  # pop() takes them in file order
        self.total = len(job_ids)
        self.concurrency = min(concurrency, max(1, self.total))
        self.interval = 1.0 / rate if rate > 0 else 0.0
        # Lines claimed at once: one a thread; under a rate, no more than a second's worth.
        self.group_size = (
            self.concurrency if rate <= 0 else max(1, min(self.concurrency, int(rate)))
        )
        self.max_wait = max_wait
        self.on_progress = on_progress
        self.report = SubmitReport()
        self.groups = SubmitStore(service.store.db)
        self.recorder = GroupRecorder(self.groups)
        self.claims = 0  # claim transactions (for tests and figures)
        self._create_timeout = timedelta(seconds=float(service.settings["api.create_timeout"]))
        self._lock = threading.Lock()
        # Held while claiming or releasing: lines claimed by us, in `submitting`, not sent yet,
        # each with the end of its lease.
        self._claim_lock = threading.Lock()
        self._claimed: deque[tuple[Job, datetime]] = deque()
        self._next_slot = self.clock.monotonic()
        self._waited = 0.0  # seconds spent waiting out the server (429/503)
        self._accounted_until = self.clock.now()
        self._stop = False
        self._done = 0
        self._tries: dict[str, int] = {}

    def run(self) -> SubmitReport:
        if not self.total:
            return self.report
        threads = [
            threading.Thread(target=self._work, name=f"batch-submit-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._release_claimed()  # stopped early: what was claimed and not sent is pending again
        self.report.left_pending += len(self.todo)
        return self.report

    # -- taking lines ------------------------------------------------------------------------------

    def _take(self) -> Job | None:
        """The next claimed line to send; claims the next group when none is left."""
        while True:
            settle: list[tuple[str, str | None, datetime | None]] = []
            with self._claim_lock:
                if self._stop:
                    return None
                if not self._claimed:
                    with self._lock:
                        ids = [self.todo.pop() for _ in range(min(self.group_size, len(self.todo)))]
                    if not ids:
                        return None
                    settle = self._claim(ids)
                if self._claimed and not settle:
                    job, lease_until = self._claimed.popleft()
                    if self.clock.now() + self._create_timeout < lease_until:
                        return job
                    # Too little of the lease is left to cover a create: send it under a new one.
                    try:
                        self.groups.unclaim([job.id], self.service.owner, self.clock.now())
                    except StoreError as exc:  # its lease runs out: submit_unknown, never sent
                        self._left_to_worker([job.id], exc)
                        continue
                    self._give_back(job.id)
                    continue
            # Lines the group could not claim, settled outside the lock (settling may sleep).
            for job_id, status, due in settle:
                self._settle_unclaimed(job_id, status, due)

    def _claim(self, ids: list[str]) -> list[tuple[str, str | None, datetime | None]]:
        """Claim `ids` in one transaction; (id, status, next attempt) of those not claimed.
        Lines the store cannot answer for now are left to the worker (as a failed submit is)."""
        service = self.service
        now = self.clock.now()
        lease_until = service.submit_lease_until(now)
        try:
            sendable = service.sendable(ids, now)  # a batch past its budget sends no more lines
            jobs = self.groups.claim_group(sendable, service.owner, now, lease_until)
        except StoreError as exc:
            self._left_to_worker(ids, exc)
            return []
        self.claims += 1
        crash_point("submit.group_claimed")
        self._claimed.extend((job, lease_until) for job in jobs)
        claimed = {job.id for job in jobs}
        others = [job_id for job_id in ids if job_id not in claimed]
        try:
            states = self.groups.states(others)
        except StoreError as exc:
            self._left_to_worker(others, exc)
            return []
        return [(job_id, *states.get(job_id, (None, None))) for job_id in others]

    def _left_to_worker(self, ids: list[str], exc: StoreError) -> None:
        log.warning("%d lines left to the worker: %s", len(ids), exc)
        with self._lock:
            self.report.left_pending += len(ids)

    def _release_claimed(self) -> None:
        """Claimed lines not sent yet go back to pending (and to the front of the queue)."""
        with self._claim_lock:
            unsent = [job.id for job, _ in self._claimed]
            self._claimed.clear()
            if not unsent:
                return
            try:
                self.groups.unclaim(unsent, self.service.owner, self.clock.now())
            except StoreError as exc:  # their leases run out; the worker marks them submit_unknown
                log.warning("%d claimed lines not released: %s", len(unsent), exc)
            with self._lock:
                self.todo.extend(reversed(unsent))

    # -- pacing ------------------------------------------------------------------------------------

    def _wait_turn(self) -> bool:
        """Honour the process-wide 429 pause and the rate; False when the wait budget is spent."""
        while True:
            now = self.clock.now()
            paused = self.service.paused_until
            if paused is None or paused <= now:
                break
            # Nothing is sent during the pause: lines claimed meanwhile are not held through it.
            self._release_claimed()
            with self._lock:
                # Every thread sleeps through the same pause: count its length once.
                new = (paused - max(now, self._accounted_until)).total_seconds()
                if new > 0:
                    if self._waited + new > self.max_wait:
                        self._stop = True
                        return False
                    self._waited += new
                    self._accounted_until = paused
            self.clock.sleep((paused - now).total_seconds())
        if self.interval:
            with self._lock:
                slot = max(self._next_slot, self.clock.monotonic())
                self._next_slot = slot + self.interval
            delay = slot - self.clock.monotonic()
            if delay > 0:
                self.clock.sleep(delay)
        return True

    # -- sending -----------------------------------------------------------------------------------

    def _work(self) -> None:
        while self._wait_turn() and (job := self._take()) is not None:
            job_id = job.id
            try:
                answer = self.service.send_create(job, recorder=self.recorder)
            except (Unreachable, AuthFailed) as exc:
                with self._lock:
                    self._stop, self.report.error = True, str(exc)
                    self.report.left_pending += 1
                return
            except (GatewayError, StoreError) as exc:
                log.warning("job %s: left to the worker: %s", job_id, exc)
                with self._lock:
                    self.report.left_pending += 1
                continue
            if isinstance(answer, float):  # certainly not created: pending again, retry after
                self._settle(job_id, _PENDING, self.clock.now() + timedelta(seconds=answer))
            else:  # None: refused by the API, or submit_unknown
                self._settle(job_id, _SENT if answer is not None else _FAILED, None)

    def _settle_unclaimed(self, job_id: str, status: str | None, due: datetime | None) -> None:
        if status is None:
            log.warning("job %s: deleted before it was sent", job_id)
            self._settle(job_id, _FAILED, None)
        elif (
            status == JobStatus.PENDING.value
        ):  # not due yet, held by a budget, or claimed elsewhere
            self._settle(job_id, _PENDING, due)
        elif status in (JobStatus.SUBMIT_UNKNOWN.value, JobStatus.FAILED.value):
            self._settle(job_id, _FAILED, None)
        else:  # sent by another submitter, or cancelled before it was sent
            self._settle(job_id, _SENT, None)

    def _settle(self, job_id: str, outcome: str, due: datetime | None) -> None:
        now = self.clock.now()
        self._tries[job_id] = self._tries.get(job_id, 0) + 1
        if outcome == _PENDING and self._tries[job_id] < MAX_TRIES:
            # 429 or 503 (certainly not created), or not due yet: try again later. After a 429
            # the whole submitter pauses (see _wait_turn); otherwise this line waits its own
            # delay, within the budget.
            paused = self.service.paused_until is not None and self.service.paused_until > now
            if not paused and due is not None and due > now:
                delay = (due - now).total_seconds()
                with self._lock:
                    over = self._waited + delay > self.max_wait
                    if not over:
                        self._waited += delay
                if over:
                    with self._lock:
                        self.report.left_pending += 1
                    return
                self.clock.sleep(delay)
            self._give_back(job_id)
            return
        with self._lock:
            if outcome == _FAILED:
                self.report.failed += 1
            elif outcome == _PENDING:
                self.report.left_pending += 1  # tried MAX_TRIES times: the worker goes on
            else:
                self.report.sent += 1
            self._done += 1
            done = self._done
        if self.on_progress:
            self.on_progress(done, self.total)

    def _give_back(self, job_id: str) -> None:
        with self._lock:
            if self._stop:
                self.report.left_pending += 1
            else:
                self.todo.insert(0, job_id)
