"""The worker: `poll_once()` does one pass of work; APScheduler only calls it on a timer.

The work itself overlaps (service/track.py): running jobs are followed by stream (up to a cap,
watched ones first) on threads of their own, and polled on a thread pool, so one hung call holds
up nothing else. `run()` starts that machinery in the background (a watchdog and poll dispatcher
every 0.2 s) and ticks `poll_once(background=True)` for submissions, new streams and the other
per-pass duties; `poll_once()` alone (`jobs poll --once`, tests) does one pass of submissions and
polls and returns when its calls are done.

APScheduler 3.x cannot coordinate processes (a shared job store double-fires), so it is used purely
as an in-process ticker (`max_instances=1`, `coalesce=True`). Coordination between any number of
workers goes through leases in our own tables (see store.claim_due).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

from jobs.errors import StoreError
from jobs.models import Worker as WorkerRow
from jobs.service import JobService, PassReport
from jobs.service.track import Tracker

log = logging.getLogger(__name__)


class _SkippedTickFilter(logging.Filter):
    """An overrunning tick is skipped by design (max_instances=1); APScheduler warns about each
    one, which on a busy worker is a line every tick (enough to fill a parent's stderr pipe)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkippedTickFilter())


def _fewer_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 a core): with a few
    hundred stream threads the worker's RSS would grow by tens of MB of per-arena slack. Two
    arenas are plenty for threads that mostly wait on the network (no effect off glibc)."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX


class Worker:
    def __init__(
        self,
        service: JobService,
        *,
        follow: str | None = None,
        max_streams: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.service = service
        # Built once, before calls overlap: a lazily built SDK client raced by ten threads broke
        # nine of their streams (architecture.md).
        with contextlib.suppress(Exception):
            service.gateway_ready()
        self.tracker = Tracker(
            service, mode=follow, max_streams=max_streams, concurrency=concurrency
        )
        self.id = service.owner
        self._stopping = threading.Event()
        # Held by the scheduler's thread while a pass and its report run: run() returns only
        # after it (the scheduler's shutdown does not wait, since it is called from a signal).
        self._in_pass = threading.Lock()
        now = service.clock.now()
        self._row = WorkerRow(
            id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            heartbeat_at=now,
        )

    def poll_once(self, *, background: bool = False) -> PassReport:
        """Heartbeat, then one pass: recover stale submissions, submit ready jobs, poll due ones.

        `background` (the daemon): also open streams, and let calls finish after the pass."""
        self._row.heartbeat_at = self.service.clock.now()
        try:
            self.service.store.heartbeat(self._row)
            self.service.schedules.fire_due(self.service.clock.now())
            self.service.notify.run_due(self.service.clock.now())
            self.service.webhooks.poll_overdue(self.service.clock.now())
            # Before the pass: it sends the cancels of jobs past their budget.
            self.service.budgets.enforce(self._row.heartbeat_at)
            return self.tracker.run_pass(wait_for_calls=not background, streams=background)
        except StoreError as exc:
            # A locked, full or unreachable store delays work; it never kills the worker.
            log.warning("store unavailable, will retry: %s", exc)
            return PassReport(errors=1)

    def run(self, *, tick: float, on_pass: Callable[[PassReport], None] | None = None) -> None:
        """Run until SIGINT/SIGTERM or stop(); a pass in progress always finishes first."""
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler(timezone="UTC")

        def tick_job() -> None:
            with self._in_pass:
                if self._stopping.is_set():
                    return
                report = self.poll_once(background=True)
                if on_pass:
                    on_pass(report)

        scheduler.add_job(
            tick_job,
            "interval",
            seconds=tick,
            id="poll",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=self.service.clock.now(),
        )

        def shutdown(signum: int, _frame: object) -> None:
            # debug: on Ctrl-C a person sees the CLI's "worker stopped", not a log record
            log.debug("received %s, stopping after the current pass", signal.Signals(signum).name)
            self.stop()

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, shutdown)
        self._scheduler = scheduler
        _fewer_malloc_arenas()
        self.tracker.start()
        try:
            scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with self._in_pass:  # the pass in progress, and its report, end before we do
                pass
            self.tracker.stop()
            self.mark_stopped()

    def stop(self) -> None:
        """Stop ticking; safe to call more than once and from a signal handler."""
        from apscheduler.schedulers import SchedulerNotRunningError

        self._stopping.set()
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            with contextlib.suppress(SchedulerNotRunningError):
                scheduler.shutdown(wait=False)

    def mark_stopped(self) -> None:
        """Record that this worker ended, so `jobs doctor` does not count it as alive."""
        self._row.stopped_at = self.service.clock.now()
        with contextlib.suppress(StoreError):
            self.service.store.heartbeat(self._row)
