"""Following jobs: by stream into the event journal, or by polling; many calls at once.

`Tracker` is what a worker (or `jobs follow`) uses to hold many jobs:
- Up to `worker.max_streams` running jobs are followed by stream (`get(id, stream=True)`), watched
  jobs first. Each stream has its own thread (`StreamFollower`): it appends every event to the
  journal once, in order (a replayed or doubled event is dropped by its event_id), resumes a cut
  stream with `last_event_id`, and when the job ends confirms it with one final `get`, written
  through the single terminal path (`service.recorder`, service/record.py) under the job's lease.
- A watchdog (`check_streams`) notices a stream silent for `worker.stream_idle` seconds: it asks
  `get` what is true (a stalled resume of Deep Research replays two events, then hangs), records a
  terminal state if there is one, else reopens the stream; a job whose streams keep failing is
  handed back to polling. The same check renews the leases of all open streams in one statement.
- The rest are polled with the service's adaptive pacing, `worker.concurrency` calls at a time on
  a thread pool: one slow or hung call holds only its own thread. Non-terminal polls are recorded
  many at a time (`TrackingStore.record_polls`); anything else goes through the service's rules.
- Events and terminal results are written many jobs per transaction (service/writers.py).

Why threads, not asyncio: the store is synchronous and short-transactioned (SQLite and PostgreSQL
through SQLAlchemy), every rule of submission, polling and cancelling already lives in synchronous
service code proven by the reliability suite, and the gateway's calls spend their time waiting on
the network with the GIL released. A thread per open stream (a few hundred) and a fixed pool for
polls keeps those rules unchanged; asyncio would need an async store or a thread hop per write.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any

from jobs.crash import crash_point
from jobs.errors import GatewayError, NotSent, RemoteNotFound, StoreError, Transient
from jobs.gateway import RemoteInteraction
from jobs.models import Job, JobStatus
from jobs.service.core import JobService, PassReport
from jobs.service.writers import JournalWriter, TerminalWriter, terminal_status_of
from jobs.store.tracking import PollOutcome, TrackingStore

log = logging.getLogger(__name__)

FOLLOW_MODES = ("stream", "poll")
_RECORD_BATCH = 200  # non-terminal polls written per transaction
_MAX_CUTS = 20  # reconnects of one stream before the job is handed back to polling
_MAX_STALLS = 2  # silent streams (watchdog) before the job is handed back to polling
_NO_STREAM_FOR = 120.0  # seconds a job handed back to polling is not streamed again


class StreamFollower:
    """Follows one leased job's stream into the journal until the job ends or is handed back."""

    def __init__(self, tracker: Tracker, job: Job, resume_after: str | None | bool = False) -> None:
        """`resume_after`: the journal's last event id for the job, looked up with others' (None:
        no event yet); False: look it up at the first open."""
        self.tracker = tracker
        self.job = job
        self._resume_known = resume_after is not False
        self.last_activity = tracker.service.clock.monotonic()
        self.cuts = 0
        self.stalls = 0
        self.outcome: str | None = None  # finished | polled | handed_back | lost | stopped
        self._handle: Any = None
        self._stalled = False
        self._lost = False
        self.confirmed: RemoteInteraction | None = None  # a get said it ended (after a stall)
        self.last_event_id: str | None = None  # the resume point: the last event received
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"jobs-stream-{job.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- called by the watchdog (another thread) ---------------------------------------------------

    def silent_for(self, now: float) -> float:
        return now - self.last_activity

    def interrupt(self, *, stalled: bool = False, lost: bool = False) -> None:
        """End the current connection (the stream thread notices at its next read)."""
        with self._lock:
            self._stalled = self._stalled or stalled
            self._lost = self._lost or lost
            handle = self._handle
        if handle is not None:
            handle.close()

    # -- the stream thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.outcome = self._follow()
        except StoreError as exc:
            # The store refused a write: the lease runs out and a poll takes over; nothing is lost,
            # the journal dedupes what a later stream replays.
            log.warning("job %s: store unavailable while streaming: %s", self.job.id, exc)
            self.outcome = "error"
        except Exception:  # a bug must not kill the worker
            log.exception("job %s: stream follower failed", self.job.id)
            self.outcome = "error"
        finally:
            self.tracker._follower_done(self)

    def _follow(self) -> str:
        tracker, job = self.tracker, self.job
        service = tracker.service
        assert job.interaction_id
        while True:
            if tracker.stopping.is_set():
                self._hand_back(delay=0.0)
                return "stopped"
            with self._lock:
                if self._lost:
                    return "lost"
                self._stalled = False
            if not self._resume_known:  # first open here: resume after what is stored
                self.last_event_id = service.journal.last_event_id(job.id)
                self._resume_known = True
            last = self.last_event_id
            try:
                handle = service.gateway.open_stream(
                    job.interaction_id, last, read_timeout=tracker.read_timeout
                )
            except (Transient, NotSent) as exc:
                # A 503 (the real one is plain text) or a broken connection: open it again.
                if not self._cut(exc, last):
                    return self._give_up(f"its stream does not open: {exc}")
                continue
            except GatewayError as exc:
                log.info("job %s: stream did not open (%s); confirming with get", job.id, exc)
                return self._finish()
            with self._lock:
                self._handle = handle
            self.last_activity = service.clock.monotonic()
            ended, broke = False, None
            try:
                for event in handle:
                    self.last_activity = service.clock.monotonic()
                    self.stalls = 0  # it talks: only consecutive silences count
                    tracker.writer.put(job.id, event)
                    if event.get("event_id"):
                        self.last_event_id = str(event["event_id"])
                    # A terminal status_update comes before the `interaction.completed` that
                    # carries the final resource: read on to that one (or to the stream's end).
                    if event.get("event_type") == "interaction.completed" and terminal_status_of(
                        event
                    ):
                        ended = True
                        break
                else:
                    # `[DONE]`: the stream is over, ask get what is true; an end without it is a
                    # cut (the SDK ends such a stream silently), resumed below.
                    ended = bool(getattr(handle, "done", True))
            except GatewayError as exc:
                broke = exc
            finally:
                with self._lock:
                    self._handle = None
                handle.close()
            with self._lock:
                stalled, lost = self._stalled, self._lost
            if ended and not (stalled or lost):
                return self._finish()
            if lost:
                return "lost"
            if tracker.stopping.is_set():
                continue  # hands back at the top of the loop
            if stalled:
                outcome = self._stalled_stream()
                if outcome is not None:
                    return outcome
                continue
            if not self._cut(broke, last):
                return self._give_up("its stream keeps breaking")

    def _cut(self, why: object, last: str | None) -> bool:
        """A broken stream: wait a little (backoff), then resume. False after too many."""
        self.cuts += 1
        log.info("job %s: stream cut (%s); resuming after %s", self.job.id, why, last)
        if self.cuts >= _MAX_CUTS:
            return False
        self.tracker.stopping.wait(min(5.0, 0.05 * 2 ** min(self.cuts, 7)))
        return True

    def _stalled_stream(self) -> str | None:
        """The watchdog found the stream silent: ask `get` what is true. A job that ended is
        recorded once its journal is complete (one more resume drains it); a running one is
        resumed, and after repeated silences handed back to polling. None: keep following."""
        self.stalls += 1
        job, service = self.job, self.tracker.service
        log.info("job %s: stream silent for %.0fs; confirming with get", job.id, self.tracker.idle)
        if self.confirmed is not None:
            # Already ended, and the drain went silent too: record it; the journal may lack the
            # events after the silence (the result itself comes from get, and is complete).
            log.warning("job %s: ended, but its stream went silent before the end", job.id)
            return self._finish()
        assert job.interaction_id
        try:
            remote = service.gateway.get(job.interaction_id)
        except RemoteNotFound as exc:
            return service.recorder.poll_failed(job, exc)
        except GatewayError:
            remote = None
        if remote is not None and JobStatus.from_remote(remote.status).is_terminal:
            self.confirmed = remote  # resume once more to complete the journal, then record
            return None
        if self.stalls >= _MAX_STALLS:
            return self._give_up("its streams keep going silent")
        return None

    def _finish(self) -> str:
        """Record what the one confirming `get` says (or said, after a stall), under our lease,
        through the service's single terminal path."""
        service, job = self.tracker.service, self.job
        assert job.interaction_id
        remote = self.confirmed
        if remote is None:
            try:
                remote = service.gateway.get(job.interaction_id)
            except GatewayError as exc:
                self.tracker.writer.sync()  # every event is in the journal before it is recorded
                outcome = service.recorder.poll_failed(job, exc)  # released with backoff
                return "finished" if outcome == "finished" else "polled"
            crash_point("poll.after_get")
        if JobStatus.from_remote(remote.status).is_terminal:
            # with the other jobs ending now, in one transaction, after the journal's queued events
            return "finished" if self.tracker.terminals.record(job, remote) else "polled"
        self.tracker.writer.sync()  # every event is in the journal before the state is recorded
        if service.recorder.record_remote(job, remote, owner=service.owner):
            return "finished"
        self.tracker.skip_streaming(job.id)  # not over (paused, unknown): polled from now on
        return "polled"

    def _give_up(self, why: str) -> str:
        log.warning("job %s: %s; polling it instead", self.job.id, why)
        self.tracker.skip_streaming(self.job.id)
        self._hand_back(delay=0.0)
        return "handed_back"

    def _hand_back(self, *, delay: float) -> None:
        service = self.tracker.service
        now = service.clock.now()
        with contextlib.suppress(StoreError):
            self.tracker.leases.release_to_poll(
                service.owner, self.job.id, now + timedelta(seconds=delay)
            )


class Tracker:
    """Streams, polls and submissions of one process, overlapping; see the module docstring."""

    def __init__(
        self,
        service: JobService,
        *,
        mode: str | None = None,
        max_streams: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        settings = service.settings
        self.service = service
        self.leases = TrackingStore(service.store.db)
        self.mode = mode or settings["worker.follow"]
        if self.mode not in FOLLOW_MODES:
            raise ValueError(f"worker.follow must be one of {', '.join(FOLLOW_MODES)}")
        self.max_streams = int(
            max_streams if max_streams is not None else settings["worker.max_streams"]
        )
        self.concurrency = max(1, int(concurrency or settings["worker.concurrency"]))
        self.idle = float(settings["worker.stream_idle"])
        # A blocked read returns within this many seconds of a close() from the watchdog, even on a
        # connection that sends nothing at all.
        self.read_timeout = max(5.0, min(self.idle, float(settings["api.timeout"])))
        self.lease = float(settings["worker.lease"])
        self.stopping = threading.Event()
        self._wake = threading.Event()  # a poll slot came free: dispatch now
        self.followers: dict[str, StreamFollower] = {}
        self._no_stream: dict[str, float] = {}
        self._inflight: set[str] = set()
        self._submitting: set[str] = set()
        self._outcomes: list[PollOutcome] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="jobs-call")
        # Creates have threads of their own: a claimed job (submitting, under a lease) never
        # waits behind polls for its create to be sent.
        self._submit_pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="jobs-create")
        self._renewed_at = service.clock.monotonic()
        self._monitor: threading.Thread | None = None
        self.writer = JournalWriter(service)
        self.terminals = TerminalWriter(self)
        self.streaming = False  # open streams (the daemon, `jobs follow`); one-pass polls do not
        self.finished = 0  # jobs recorded terminal by streams and background polls

    # -- one pass ----------------------------------------------------------------------------------

    def run_pass(
        self,
        *,
        wait_for_calls: bool = True,
        streams: bool = True,
        job_ids: Sequence[str] | None = None,
    ) -> PassReport:
        """Recover, submit what is ready, open streams up to the cap, poll what is due.

        `wait_for_calls`: return when this pass's calls are done (`poll --once`, tests); the daemon
        passes False and lets calls finish in the background while the next pass starts."""
        report = PassReport()
        if not self.service.begin_pass(report):
            return report
        self.streaming = streams
        self.submit_ready(report, wait_for_calls=wait_for_calls, job_ids=job_ids)
        if streams and self.mode == "stream" and not self.service._paused():
            self.start_streams(job_ids=job_ids)
        self.dispatch_polls(report, wait_for_calls=wait_for_calls, job_ids=job_ids)
        self.check_streams()
        with self._lock:  # what streams and background polls recorded since the last pass
            report.finished += self.finished
            self.finished = 0
        return report

    def submit_ready(
        self, report: PassReport, *, wait_for_calls: bool, job_ids: Sequence[str] | None = None
    ) -> None:
        """Claim the ready jobs for submission in one transaction (pending -> submitting, the
        write-ahead step), then send their creates at once."""
        service = self.service
        with self._lock:
            free = self.concurrency - len(self._submitting)  # no claim waits for a thread
        if free <= 0 or service._paused():
            return
        now = service.clock.now()
        ids = service.sendable(service.store.submittable_ids(now, free, job_ids), now)
        with self._lock:
            ids = [i for i in ids if i not in self._submitting]
        claimed = self.leases.claim_for_submit(
            ids, service.owner, now, service.submit_lease_until(now)
        )
        with self._lock:
            self._submitting.update(job.id for job in claimed)
        futures = [self._submit_pool.submit(self._submit_task, job) for job in claimed]
        if wait_for_calls:
            for future in futures:
                outcome = future.result()
                report.submitted += outcome == "submitted"
                report.errors += outcome == "error"
        else:
            report.submitted += len(futures)

    def _submit_task(self, job: Job) -> str:
        service = self.service
        try:
            if service._paused():
                # A 429 came meanwhile: it slows the whole process. Back to pending, unsent.
                wait_s = (service.paused_until - service.clock.now()).total_seconds()
                service._release_submit(
                    job.id,
                    JobStatus.PENDING,
                    "rate_limited",
                    f"not sent: the API asked to slow down (will retry in {wait_s:.0f}s)",
                    retry_in=max(0.0, wait_s),
                )
                return "paused"
            now = service.clock.now()
            if (
                job.lease_expires_at is not None
                and (job.lease_expires_at - now).total_seconds()
                < float(service.settings["api.create_timeout"]) + 5
            ):
                # Too late to send within our lease (a starved machine): hand it back unsent, or
                # it would be marked submit_unknown while nothing was sent.
                service._release_submit(
                    job.id, JobStatus.PENDING, "not_sent", "not sent yet", retry_in=0.0
                )
                return "paused"
            service.send_create(job)
            return "submitted"  # the tracker's loop opens its stream within 0.2 s
        except (GatewayError, StoreError) as exc:
            log.warning("job %s: %s", job.id, exc)
            return "error"
        finally:
            with self._lock:
                self._submitting.discard(job.id)

    def start_streams(self, *, job_ids: Sequence[str] | None = None) -> int:
        """Open streams for running jobs, watched ones first, up to the cap."""
        service = self.service
        with self._lock:
            free = self.max_streams - len(self.followers)
            now_m = service.clock.monotonic()
            self._no_stream = {k: v for k, v in self._no_stream.items() if v > now_m}
            exclude = list(self.followers) + list(self._no_stream) + list(self._inflight)
        if free <= 0:
            return 0
        now = service.clock.now()
        claimed = self.leases.claim_for_stream(
            service.owner,
            now,
            now + timedelta(seconds=self.lease),
            free,
            exclude=exclude,
            job_ids=job_ids,
        )
        # where each stream resumes (after the events stored already), for all of them at once
        resume = service.journal.last_event_ids([job.id for job in claimed]) if claimed else {}
        for job in claimed:
            follower = StreamFollower(self, job, resume.get(job.id))
            with self._lock:
                self.followers[job.id] = follower
            follower.start()
        return len(claimed)

    def skip_streaming(self, job_id: str) -> None:
        with self._lock:
            self._no_stream[job_id] = self.service.clock.monotonic() + _NO_STREAM_FOR

    def _follower_done(self, follower: StreamFollower) -> None:
        with self._lock:
            self.followers.pop(follower.job.id, None)
            self.finished += follower.outcome == "finished"

    # -- polls -------------------------------------------------------------------------------------

    def dispatch_polls(
        self, report: PassReport, *, wait_for_calls: bool, job_ids: Sequence[str] | None = None
    ) -> None:
        """Claim as many due jobs as there are free call slots and poll them at once. Waiting
        (`wait_for_calls`), a slot that frees is refilled at once: a hung call holds only its own."""
        service = self.service
        futures: list[Future[str]] = []
        while not service._paused() and not self.stopping.is_set():
            with self._lock:
                free = self.concurrency - len(self._inflight)
            claimed: list[Job] = []
            if free > 0:
                now = service.clock.now()
                claimed = service.store.claim_due(
                    service.owner, now, now + timedelta(seconds=self.lease), free, job_ids
                )
                with self._lock:
                    self._inflight.update(job.id for job in claimed)
                futures += [self._pool.submit(self._poll_task, job) for job in claimed]
            if not wait_for_calls:
                break
            running = [f for f in futures if not f.done()]
            if not running and not claimed:
                break
            if running:
                wait(running, return_when=FIRST_COMPLETED)
        if wait_for_calls:
            wait(futures)
            for future in futures:
                outcome = future.result()
                report.polled += 1  # (finished ones are counted by _poll_task: see run_pass)
                report.errors += outcome == "error"
        self.flush_outcomes()

    def _poll_task(self, job: Job) -> str:
        service = self.service
        try:
            if service._paused():
                service.store.release(job.id, service.owner)  # still due, unpolled
                return "paused"
            if job.cancel_requested_at and not job.cancel_sent_at:
                return service.recorder.poll_job(job)
            assert job.interaction_id
            try:
                remote = service.gateway.get(job.interaction_id)
            except GatewayError as exc:
                return service.recorder.poll_failed(job, exc)
            crash_point("poll.after_get")
            status = JobStatus.from_remote(remote.status)
            if status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS):
                now = service.clock.now()
                outcome = PollOutcome(
                    job=job,
                    status=status,
                    remote_status=remote.status,
                    remote_updated=remote.updated,
                    next_poll_at=now + timedelta(seconds=service.recorder.poll_delay(job, now)),
                )
                if remote.usage:  # usage while running (not every API reports it): for budgets
                    service.budgets.store.record_live(job.id, remote.usage, source="poll", now=now)
                with self._lock:
                    self._outcomes.append(outcome)
                    full = len(self._outcomes) >= _RECORD_BATCH
                if full:
                    self.flush_outcomes()
                return "polled"
            if status.is_terminal:  # with the other jobs ending now, in one transaction
                finished = self.terminals.record(job, remote)
            else:
                finished = service.recorder.record_remote(job, remote, owner=service.owner)
            if finished:
                with self._lock:
                    self.finished += 1
            return "finished" if finished else "polled"
        except StoreError as exc:
            log.warning("job %s: store unavailable, poll not recorded: %s", job.id, exc)
            return "error"
        finally:
            with self._lock:
                self._inflight.discard(job.id)
                free = self.concurrency - len(self._inflight)
            if free >= max(1, self.concurrency // 4):
                self._wake.set()  # the dispatcher refills the free slots now, not at its next tick

    def flush_outcomes(self) -> int:
        """Write the non-terminal polls gathered so far, in one transaction."""
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return 0
        try:
            return self.leases.record_polls(self.service.owner, outcomes, self.service.clock.now())
        except StoreError as exc:
            # Their leases run out and they are polled again: a poll result is never precious.
            log.warning("store unavailable, %d poll results dropped: %s", len(outcomes), exc)
            return 0

    # -- the watchdog ------------------------------------------------------------------------------

    def check_streams(self) -> None:
        """Interrupt silent streams; renew the leases of open ones (one statement), dropping any
        we no longer hold."""
        service = self.service
        now_m = service.clock.monotonic()
        with self._lock:
            followers = list(self.followers.values())
        for follower in followers:
            if follower.silent_for(now_m) >= self.idle:
                follower.last_activity = now_m  # one interrupt per silence
                follower.interrupt(stalled=True)
        if not followers or now_m - self._renewed_at < self.lease / 4:
            return
        self._renewed_at = now_m
        now = service.clock.now()
        ids = [f.job.id for f in followers]
        try:
            held = self.leases.renew(service.owner, ids, now + timedelta(seconds=self.lease))
        except StoreError as exc:
            log.warning("store unavailable, stream leases not renewed: %s", exc)
            return
        for follower in followers:
            if follower.job.id not in held:
                follower.interrupt(lost=True)

    # -- the daemon --------------------------------------------------------------------------------

    def start(self, *, interval: float = 0.2) -> None:
        """Run the watchdog and the poll dispatcher in the background until `stop()`."""

        def loop() -> None:
            report = PassReport()
            while not self.stopping.is_set():
                # every `interval`, or as soon as a quarter of the poll slots are free
                self._wake.wait(interval)
                self._wake.clear()
                if self.stopping.is_set():
                    break
                try:
                    self.check_streams()
                    if not self.service._paused():
                        if self.mode == "stream":
                            self.start_streams()
                        self.dispatch_polls(report, wait_for_calls=False)
                except StoreError as exc:
                    log.warning("store unavailable, will retry: %s", exc)
                except Exception:
                    log.exception("tracker loop failed; continuing")

        self.streaming = True
        self._monitor = threading.Thread(target=loop, name="jobs-tracker", daemon=True)
        self._monitor.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop: close the streams (their jobs are handed back, due now), finish running calls."""
        self.stopping.set()
        self._wake.set()
        with self._lock:
            followers = list(self.followers.values())
        for follower in followers:
            follower.interrupt()
        for follower in followers:
            follower.thread.join(timeout)
        if self._monitor is not None:
            self._monitor.join(timeout)
        self._pool.shutdown(wait=True)
        self._submit_pool.shutdown(wait=True)
        self.flush_outcomes()
        self.writer.stop()

    def open_streams(self) -> int:
        with self._lock:
            return len(self.followers)

    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)
