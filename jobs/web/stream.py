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
from collections.abc import AsyncIterator, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from jobs.render import job_dict
from jobs.service import JobService
from jobs.store.activity import JobActivity
from jobs.store.events import EventStore, StoredEvent

MAX_JOB_EVENTS = 200  # more changed jobs than this in one tick: tell the page to reload its list
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
        cursor = after
        changes = await run_in_threadpool(self.activity.last_change)
        yield "retry: 1000\n\n"
        yield sse(json.dumps({"after": cursor, "jobs": list(job_ids)}), event="hello")
        last_sent = last_watch = time.monotonic()
        if job_ids:
            await run_in_threadpool(self._watch, job_ids)
        while not self.stopping.is_set():
            sent = False
            if job_ids:
                batch = await run_in_threadpool(
                    self.events.tail, after_seq=cursor, job_ids=list(job_ids), limit=500
                )
                for event in batch:
                    yield sse(stored_event_json(event), event="journal", id=event.seq)
                    cursor = event.seq
                    sent = True
                if len(batch) >= 500:
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
