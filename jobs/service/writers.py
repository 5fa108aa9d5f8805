"""The worker's writers: events and terminal results of many jobs, a few transactions in all.

- `JournalWriter` writes the events every open stream received to the journal together, every
  few tens of milliseconds, in one short transaction (SQLite has one write lock: a transaction an
  event, from hundreds of streams, would queue everything else behind it).
- `TerminalWriter` group-commits terminal results: a stream or poll thread holding a job's
  confirming reply writes, in one transaction, its own and whatever other threads queued meanwhile
  (`Recorder.record_terminals`: each job's result with its terminal status), after the journal's
  queued events.
- The reading of the status an event announces (`announced_status` and the two below) is shared
  by the journal writer (live statuses) and the stream follower (the end).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from jobs.errors import StoreError
from jobs.gateway import RemoteInteraction
from jobs.models import Job, JobStatus

if TYPE_CHECKING:
    from jobs.service.core import JobService
    from jobs.service.track import Tracker

log = logging.getLogger(__name__)


def announced_status(event: dict[str, Any]) -> str | None:
    """The status an `interaction.created`, `interaction.status_update` or
    `interaction.completed` event announces, or None."""
    kind = event.get("event_type")
    if kind in ("interaction.created", "interaction.completed"):
        interaction = event.get("interaction")
        status = interaction.get("status") if isinstance(interaction, dict) else None
    elif kind == "interaction.status_update":
        status = event.get("status")
    else:
        return None
    return status if isinstance(status, str) else None


def terminal_status_of(event: dict[str, Any]) -> str | None:
    """The terminal status an event announces (completed, status_update), or None."""
    if event.get("event_type") == "interaction.created":
        return None
    status = announced_status(event)
    return status if status and JobStatus.from_remote(status).is_terminal else None


def live_status_of(event: dict[str, Any]) -> str | None:
    """The status an `interaction.created` or `interaction.status_update` event announces."""
    if event.get("event_type") == "interaction.completed":
        return None
    return announced_status(event)


class JournalWriter:
    """Writes the events of every open stream to the journal together, every `interval` seconds,
    in one short transaction (SQLite has one write lock: a transaction an event, from hundreds of
    streams, would queue everything else behind it). Order per job is kept; `sync()` writes what
    is queued now (before a stream is resumed or its job's end is recorded)."""

    def __init__(self, service: JobService, interval: float = 0.05) -> None:
        self.service = service
        self.interval = interval
        self._queue: list[tuple[str, dict[str, Any], Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobs-journal", daemon=True)
        self._thread.start()

    def put(self, job_id: str, event: dict[str, Any]) -> None:
        at = self.service.clock.now()  # received_at is when it arrived, not when it was written
        with self._lock:
            self._queue.append((job_id, event, at))

    def sync(self) -> None:
        """Write everything queued so far (raises StoreError if the store refuses it)."""
        with self._flush_lock:
            with self._lock:
                queued, self._queue = self._queue, []
            if not queued:
                return
            batches: dict[str, tuple[list[dict[str, Any]], list[Any]]] = {}
            for job_id, event, at in queued:
                events, times = batches.setdefault(job_id, ([], []))
                events.append(event)
                times.append(at)
            try:
                self.service.journal.append_many(
                    [(job_id, events, times) for job_id, (events, times) in batches.items()],
                    self.service.clock.now(),
                )
            except StoreError:
                with self._lock:  # keep them, in order, for the next try
                    self._queue = queued + self._queue
                raise
            statuses = {}
            for job_id, (events, _) in batches.items():
                for event in events:
                    status = live_status_of(event)
                    if status is not None:
                        statuses[job_id] = status
            if statuses:  # `list` and the web page show what the stream says, not `queued`
                # in id order: rows are locked as every batch of this worker locks them
                self.service.store.record_streamed_statuses(
                    dict(sorted(statuses.items())), self.service.clock.now()
                )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except StoreError as exc:
                log.warning("store unavailable, journal events kept for the next try: %s", exc)
            except Exception:
                log.exception("journal writer failed; continuing")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(StoreError):
            self.sync()


class _Pending:
    __slots__ = ("job", "remote", "outcome", "done")

    def __init__(self, job: Job, remote: RemoteInteraction) -> None:
        self.job, self.remote = job, remote
        self.outcome: bool | BaseException = False
        self.done = False


class TerminalWriter:
    """Group commit of terminal results: a stream or poll thread that has a job's confirming reply
    queues it and writes whatever is queued by then, its own and other threads', in one
    transaction (`Recorder.record_terminals`), the journal's queued events first. While one batch
    is written the next one gathers, so a busy worker writes many ends per transaction and an
    idle one waits for nobody."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self._queue: list[_Pending] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def record(self, job: Job, remote: RemoteInteraction) -> bool:
        """Write this job's terminal reply (under our lease); True when it was recorded, False
        when the job had ended or changed hands. Raises what its write raised."""
        item = _Pending(job, remote)
        with self._lock:
            self._queue.append(item)
        with self._write_lock:
            if not item.done:
                with self._lock:
                    batch, self._queue = self._queue, []
                self._write(batch)
        if isinstance(item.outcome, BaseException):
            raise item.outcome
        return item.outcome

    def _write(self, batch: list[_Pending]) -> None:
        service = self.tracker.service
        outcomes: list[bool | BaseException] = [RuntimeError("not written")] * len(batch)
        try:
            self.tracker.writer.sync()  # every event is in the journal before its end is recorded
            outcomes = list(
                service.recorder.record_terminals(
                    [(p.job, p.remote) for p in batch], owner=service.owner
                )
            )
        except Exception as exc:  # handed to each waiting thread, which handles it as before
            outcomes = [exc] * len(batch)
        finally:
            for item, outcome in zip(batch, outcomes, strict=True):
                item.outcome = outcome
                item.done = True
