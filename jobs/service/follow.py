"""Following one job as a person does (`jobs follow`, `submit --follow`, `--wait`).

`JobFollower.updates()` yields the job's journal events in order, then the live tail, and the job
itself whenever its status changes, until the job ends. A finished job replays from the journal
without any API call. While the job runs it is marked watched (a worker streams it first); if no
one streams it, this process opens the stream itself (a `Tracker` with one stream, under the
job's lease, so a worker and a follower never both follow it) and otherwise polls it the way
`service.wait` does. Stopping (Ctrl-C) hands the lease back; the job goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jobs.models import Job, JobStatus
from jobs.service.core import JobService
from jobs.service.track import Tracker
from jobs.store import StoredEvent

WATCH_FOR = 30.0  # seconds a watch mark lasts; renewed while following
WATCH_EVERY = 10.0
PASS_EVERY = 2.0  # seconds between this process's own passes when nobody streams the job


@dataclass(frozen=True)
class JobUpdate:
    """The job as the store has it now (its status changed)."""

    job: Job


def _settled(job: Job) -> bool:
    return job.job_status.is_terminal or job.job_status in (
        JobStatus.SUBMIT_UNKNOWN,
        JobStatus.REQUIRES_ACTION,
    )


class JobFollower:
    def __init__(self, service: JobService, job_id: str, *, interval: float = 0.25) -> None:
        self.service = service
        self.job = service.get_job(job_id)
        self.interval = interval
        self.api_calls_made = False

    def updates(self) -> Iterator[StoredEvent | JobUpdate]:
        service, job = self.service, self.job
        after = 0
        yield JobUpdate(job)
        if _settled(job):
            yield from service.journal.read(job.id)
            return
        tracker: Tracker | None = None
        clock = service.clock
        watched_at = passed_at = -1e9
        last_status = job.status
        try:
            while True:
                now = clock.monotonic()
                if now - watched_at >= WATCH_EVERY:
                    service.watch([job.id], seconds=WATCH_FOR)
                    watched_at = now
                for event in service.journal.read(job.id, after_seq=after):
                    after = event.seq
                    yield event
                job = service.get_job(job.id)
                if job.status != last_status:
                    last_status = job.status
                    yield JobUpdate(job)
                if _settled(job):
                    for event in service.journal.read(job.id, after_seq=after):
                        yield event
                    return
                if tracker is None:
                    tracker = Tracker(service, mode="stream", max_streams=1, concurrency=2)
                if not tracker.open_streams() and now - passed_at >= PASS_EVERY:
                    # Nobody streams it here: try to (a worker's lease wins), else do what
                    # `--wait` always did: submit it if it waits, poll it when due.
                    passed_at = now
                    self.api_calls_made = True
                    ids = [j.id for j in service.chain(job)]
                    tracker.run_pass(wait_for_calls=True, streams=True, job_ids=ids)
                tracker.check_streams()
                clock.sleep(self.interval)
        finally:
            if tracker is not None:
                tracker.stop()
