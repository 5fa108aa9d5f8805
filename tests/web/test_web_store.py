"""The read-only query behind the jobs panel's live updates, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.models import Job
from jobs.store import JobStore
from jobs.store.activity import JobActivity


def test_changed_since_names_each_changed_job_once_in_order(database):
    store, activity = JobStore(database), JobActivity(database)
    assert activity.last_change() == 0
    now = datetime(2026, 6, 1, tzinfo=UTC)
    a = store.insert_job(Job(id="aaaaaa", model="m", created_at=now), {}, now)
    cursor = activity.last_change()
    b = store.insert_job(Job(id="bbbbbb", model="m", created_at=now), {}, now)
    store.request_cancel(a.id, now + timedelta(seconds=1))
    store.cancel_unsent(a.id, now + timedelta(seconds=1))
    cursor, changed = activity.changed_since(cursor)
    assert changed == [b.id, a.id]
    assert activity.changed_since(cursor) == (cursor, [])
    assert {j.id for j in activity.jobs(changed)} == {a.id, b.id}
    assert activity.jobs([]) == []
    # Read in pieces: nothing is skipped between them.
    start = 0
    seen: list[str] = []
    while True:
        start, ids = activity.changed_since(start, limit=1)
        if not ids:
            break
        seen += ids
    assert set(seen) == {a.id, b.id}


def test_the_webhook_receiver_is_left_to_its_own_signature_check():
    """Google's webhook deliveries carry no page token and no Origin: the guard lets /webhooks/
    through to issue 13's receiver (which verifies signatures) and nothing else."""
    import asyncio
    import threading

    from jobs.web.security import Guard, GuardMiddleware

    reached: list[str] = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = GuardMiddleware(app, Guard(loopback_only=False, access_token="secret"))
    statuses: list[int] = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive():
        return {"type": "http.request", "body": b"{}"}

    for path in ("/webhooks/interactions", "/api/messages"):
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": [(b"host", b"jobs.example.net")],
            "query_string": b"",
        }
        # In a thread of its own: the session's Playwright keeps an event loop on this one.
        worker = threading.Thread(target=asyncio.run, args=(guard(scope, receive, send),))
        worker.start()
        worker.join(10)
    assert reached == ["/webhooks/interactions"]
    assert statuses == [204, 401]
