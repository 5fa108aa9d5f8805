"""Server-Sent Events to the page: the journal tailed by seq, and the jobs that changed.

One stream per page. It tails the event journal (issue 9's `EventStore.tail`, a cheap indexed
query) every `interval` seconds for the jobs the page shows, and sends each stored event once, in
journal order, with the SSE `id` set to its `seq`. A browser that loses the connection reconnects by
itself with `Last-Event-ID` = the last seq it had, and the stream goes on from exactly there: nothing
lost, nothing doubled (the page also ignores a seq it already has). Jobs whose state changed (any
job: the jobs panel shows them all) are sent as `job` events without an id, so they never move the
resume point.

Hand-written on Starlette's StreamingResponse rather than sse-starlette: the framing is a few lines,
the loop is ours anyway (a poll of the store, not a queue), and it stops on the server's own
shutdown flag, so no dependency is needed for it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from jobs.render import job_dict
from jobs.service import JobService
from jobs.store.activity import JobActivity
from jobs.store.events import EventStore, StoredEvent

MAX_JOB_EVENTS = 200  # more changed jobs than this in one tick: tell the page to reload its list
SETTLE_SECONDS = (
    2.0  # how late a journal transaction may commit after a later one and still be sent
)
WATCH_SECONDS = 30.0  # how long a look by the page counts as "someone is watching" (streamed first)


def sse(data: str, *, event: str | None = None, id: int | None = None) -> str:
    """One SSE message; a newline inside the data becomes another `data:` line, as the spec says."""
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return "\n".join(lines) + "\n\n"


def stored_event_json(event: StoredEvent) -> str:
    """A journal event for the page; the payload is inserted exactly as the API sent it."""
    head = json.dumps(
        {
            "seq": event.seq,
            "job_id": event.job_id,
            "event_id": event.event_id,
            "type": event.event_type,
            "received_at": event.received_at.isoformat().replace("+00:00", "Z"),
        },
        ensure_ascii=False,
    )
    payload_json = event.payload_json or "null"
    if isinstance(event.payload, str) and event.payload == payload_json:
        payload_json = json.dumps(payload_json)  # stored text that is not JSON: send it as a string
    return head[:-1] + ', "payload": ' + payload_json + "}"


def resume_point(request: Request) -> int:
    """Last-Event-ID (the browser's own reconnect) wins over `?after=` (the page's first look)."""
    for value in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if value and value.strip().isdigit():
            return int(value.strip())
    return 0


def job_ids_param(request: Request) -> list[str]:
    raw = request.query_params.get("jobs", "")
    return [part for part in (p.strip() for p in raw.split(",")) if part][:200]


class JournalCursor:
    """Where one page is in the journal, read so that no event is skipped.

    On SQLite writes are serial, so seq order is commit order. On PostgreSQL several workers write
    at once: a transaction holding seq 10 can commit after one holding seq 11, and a reader that
    moved past 11 would never see 10. So the last `settle` seconds of what was sent are read again
    each time, and what was already sent is skipped: an event that commits late (within `settle`
    of a later one) is still sent, once. Per job the order is kept (one stream writes a job's
    events, in order); across jobs a late event arrives after a later seq, which the page places
    by its seq.
    """

    def __init__(
        self,
        events: EventStore,
        job_ids: Sequence[str],
        after: int,
        *,
        settle: float = SETTLE_SECONDS,
        limit: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events = events
        self.job_ids = list(job_ids)
        self.floor = after  # every seq up to here was sent, or settled before it was
        self.settle = settle
        self.limit = limit
        self.clock = clock
        self._sent: dict[int, float] = {}  # seq above the floor -> when it was sent

    def poll(self) -> list[StoredEvent]:
        """The events not sent yet (at most `limit`), in seq order."""
        now = self.clock()
        new: list[StoredEvent] = []
        cursor = self.floor
        while len(new) < self.limit:
            batch = self.events.tail(after_seq=cursor, job_ids=self.job_ids, limit=self.limit)
            for event in batch:
                if event.seq not in self._sent and len(new) < self.limit:
                    new.append(event)
                    self._sent[event.seq] = now
            if len(batch) < self.limit:
                break
            cursor = batch[-1].seq
        settled = [seq for seq, at in self._sent.items() if at <= now - self.settle]
        if settled:
            self.floor = max(self.floor, max(settled))
            self._sent = {seq: at for seq, at in self._sent.items() if seq > self.floor}
        return new


class LiveFeed:
    """The SSE endpoint: the journal (`events`) and job changes (`activity`), tailed."""

    def __init__(
        self,
        service: JobService,
        events: EventStore,
        activity: JobActivity,
        *,
        interval: float = 0.25,
        keepalive: float = 15.0,
        stopping: threading.Event | None = None,
    ) -> None:
        self.service = service
        self.events = events
        self.activity = activity
        self.interval = interval
        self.keepalive = keepalive
        self.stopping = stopping or threading.Event()

    async def endpoint(self, request: Request) -> StreamingResponse:
        after = resume_point(request)
        job_ids = job_ids_param(request)
        return StreamingResponse(
            self._messages(after, job_ids),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _messages(self, after: int, job_ids: Sequence[str]) -> AsyncIterator[str]:
        journal = JournalCursor(self.events, job_ids, after)
        changes = await run_in_threadpool(self.activity.last_change)
        yield "retry: 1000\n\n"
        yield sse(json.dumps({"after": after, "jobs": list(job_ids)}), event="hello")
        last_sent = last_watch = time.monotonic()
        if job_ids:
            await run_in_threadpool(self._watch, job_ids)
        while not self.stopping.is_set():
            sent = False
            if job_ids:
                batch = await run_in_threadpool(journal.poll)
                for event in batch:
                    yield sse(stored_event_json(event), event="journal", id=event.seq)
                    sent = True
                if len(batch) >= journal.limit:
                    continue  # more waiting: no pause
            changes, changed = await run_in_threadpool(self.activity.changed_since, changes)
            if changed:
                sent = True
                if len(changed) > MAX_JOB_EVENTS:
                    yield sse(json.dumps({"count": len(changed)}), event="jobs_changed")
                else:
                    for job in await run_in_threadpool(self.activity.jobs, changed):
                        yield sse(json.dumps(job_dict(job), ensure_ascii=False), event="job")
            now = time.monotonic()
            if sent:
                last_sent = now
            elif now - last_sent >= self.keepalive:
                yield ": keep-alive\n\n"
                last_sent = now
            if job_ids and now - last_watch >= WATCH_SECONDS / 3:
                await run_in_threadpool(self._watch, job_ids)
                last_watch = now
            await asyncio.sleep(self.interval)

    def _watch(self, job_ids: Sequence[str]) -> None:
        """Tell the workers these jobs have a watcher, so they stream them first."""
        self.service.watch(list(job_ids), seconds=WATCH_SECONDS)
