"""The event journal: append each streamed event of a job once, read them back in arrival order.

`append` drops an event whose `event_id` is already stored for the job (the service may deliver an
event twice, and a resumed stream replays some), inside one short write transaction; the unique
index on (job_id, event_id) backs that up against a concurrent appender (`ON CONFLICT DO NOTHING`
on both backends). Events without an event_id are always stored: they cannot be told apart.

`tail` is what a live reader in another process polls (every ~0.2-0.5 s): an indexed range scan on
the primary key, cheap however large the journal is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database
from jobs.models import InteractionEvent, JobWatch

_KNOWN_CHUNK = 200  # jobs per look-up of stored event ids (well under any bind-parameter limit)


@dataclass(frozen=True)
class StoredEvent:
    """One journal row. `payload_json` is the text as stored (exact); `payload` its parsed form."""

    seq: int
    job_id: str
    event_id: str | None
    event_type: str
    payload: Any
    payload_json: str
    received_at: datetime


def event_json(event: Any) -> str:
    """The stored text of an event: compact JSON, key order and non-ASCII text as received."""
    if isinstance(event, ReceivedEvent):
        return event.text
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class ReceivedEvent(dict):
    """An event dict that also carries its JSON text as received, stored verbatim."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self.text = text


def _event_id(event: Any) -> str | None:
    value = event.get("event_id") if isinstance(event, dict) else None
    return str(value) if value not in (None, "") else None


def _event_type(event: Any) -> str:
    value = event.get("event_type") if isinstance(event, dict) else None
    return str(value)[:255] if isinstance(value, str) and value else "(none)"


def _rows(job_id: str, events: Sequence[Any], received_at: Any) -> list[dict[str, Any]]:
    rows, seen = [], set()
    times = received_at if isinstance(received_at, list | tuple) else [received_at] * len(events)
    for event, at in zip(events, times, strict=True):
        event_id = _event_id(event)
        if event_id is not None:
            if event_id in seen:
                continue  # delivered twice within the same batch
            seen.add(event_id)
        rows.append(
            {
                "job_id": job_id,
                "event_id": event_id,
                "event_type": _event_type(event),
                "payload": event_json(event),
                "received_at": at,
            }
        )
    return rows


def _to_stored(row: InteractionEvent) -> StoredEvent:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = row.payload
    assert row.seq is not None
    return StoredEvent(
        seq=row.seq,
        job_id=row.job_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=payload,
        payload_json=row.payload,
        received_at=row.received_at,
    )


class EventStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, job_id: str, events: Sequence[dict[str, Any]], received_at: datetime) -> int:
        """Store the events not stored yet, in the given order; returns how many were new."""
        return self.append_many([(job_id, events)], received_at)

    def append_many(self, batches: Sequence[tuple[Any, ...]], received_at: datetime) -> int:
        """`append` for several jobs in one short transaction (a worker streaming hundreds of
        jobs writes their events together, not one transaction an event). Each batch is
        (job_id, events) or (job_id, events, arrival times, one an event)."""
        rows = []
        for batch in batches:
            rows += _rows(batch[0], batch[1], batch[2] if len(batch) > 2 else received_at)
        if not rows:
            return 0
        insert = _insert_ignoring_duplicates(self.db.dialect)
        with self.db.write() as session:
            known = self._known(session, rows)
            fresh, seen = [], set()
            for row in rows:
                key = (row["job_id"], row["event_id"])
                if row["event_id"] is not None:
                    if key in known or key in seen:
                        continue  # stored before, or twice in this call
                    seen.add(key)
                fresh.append(row)
            if fresh:
                # executemany: the rows go in one after another, so seq keeps the given order
                session.execute(insert, fresh)
            return len(fresh)

    def _known(self, session: Any, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """The (job_id, event_id) pairs of these rows already stored, a few queries in all."""
        by_job: dict[str, list[str]] = {}
        for row in rows:
            if row["event_id"] is not None:
                by_job.setdefault(row["job_id"], []).append(row["event_id"])
        known: set[tuple[str, str]] = set()
        jobs = list(by_job)
        table = InteractionEvent.__table__  # type: ignore[attr-defined]
        for start in range(0, len(jobs), _KNOWN_CHUNK):
            chunk = jobs[start : start + _KNOWN_CHUNK]
            ids = sorted({e for job in chunk for e in by_job[job]})
            for id_start in range(0, len(ids), 5 * _KNOWN_CHUNK):
                found = session.execute(
                    sa.select(table.c.job_id, table.c.event_id).where(
                        table.c.job_id.in_(chunk),
                        table.c.event_id.in_(ids[id_start : id_start + 5 * _KNOWN_CHUNK]),
                    )
                )
                known.update((job_id, event_id) for job_id, event_id in found)
        return known

    def read(
        self, job_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """A job's events after `after_seq`, in arrival order."""
        query = (
            select(InteractionEvent)
            .where(InteractionEvent.job_id == job_id, InteractionEvent.seq > after_seq)  # type: ignore[operator]
            .order_by(InteractionEvent.seq)  # type: ignore[arg-type]
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as session:
            return [_to_stored(row) for row in session.exec(query)]

    def tail(
        self, *, after_seq: int, job_ids: Sequence[str] | None = None, limit: int = 500
    ) -> list[StoredEvent]:
        """Events of all jobs (or of `job_ids`) after `after_seq`: what a live page polls for."""
        query = select(InteractionEvent).where(InteractionEvent.seq > after_seq)  # type: ignore[operator]
        if job_ids is not None:
            query = query.where(InteractionEvent.job_id.in_(list(job_ids)))  # type: ignore[attr-defined]
        query = query.order_by(InteractionEvent.seq).limit(limit)  # type: ignore[arg-type]
        with self.db.read() as session:
            return [_to_stored(row) for row in session.exec(query)]

    def last_event_id(self, job_id: str) -> str | None:
        """The resume token: the event_id of the job's latest event that has one."""
        query = (
            select(InteractionEvent.event_id)
            .where(
                InteractionEvent.job_id == job_id,
                InteractionEvent.event_id.is_not(None),  # type: ignore[union-attr]
            )
            .order_by(InteractionEvent.seq.desc())  # type: ignore[union-attr]
            .limit(1)
        )
        with self.db.read() as session:
            return session.exec(query).first()

    def last_event_ids(self, job_ids: Sequence[str]) -> dict[str, str]:
        """`last_event_id` of many jobs in one query: {job_id: event_id}; a job with no event
        (that has an event_id) is absent."""
        if not job_ids:
            return {}
        table = InteractionEvent.__table__  # type: ignore[attr-defined]
        latest = (
            sa.select(sa.func.max(table.c.seq).label("seq"))
            .where(table.c.job_id.in_(list(job_ids)), table.c.event_id.is_not(None))
            .group_by(table.c.job_id)
            .scalar_subquery()
        )
        query = sa.select(table.c.job_id, table.c.event_id).where(table.c.seq.in_(latest))
        with self.db.read() as session:
            return {job_id: event_id for job_id, event_id in session.execute(query)}

    def count(self, job_id: str) -> int:
        with self.db.read() as session:
            return session.exec(
                select(sa.func.count()).where(InteractionEvent.job_id == job_id)
            ).one()

    # -- watching ------------------------------------------------------------------------------------

    def watch(self, job_ids: Sequence[str], until: datetime) -> None:
        """Mark jobs as followed until `until` (a later mark extends it; never shortens it)."""
        if not job_ids:
            return
        with self.db.write() as session:
            for job_id in job_ids:
                row = session.get(JobWatch, job_id)
                if row is None:
                    session.add(JobWatch(job_id=job_id, until=until))
                elif row.until < until:
                    row.until = until

    def watched(self, now: datetime, job_ids: Sequence[str] | None = None) -> set[str]:
        """The jobs someone follows right now."""
        query = select(JobWatch.job_id).where(JobWatch.until > now)
        if job_ids is not None:
            query = query.where(JobWatch.job_id.in_(list(job_ids)))  # type: ignore[attr-defined]
        with self.db.read() as session:
            return set(session.exec(query))


def _insert_ignoring_duplicates(dialect: str) -> Any:
    table = InteractionEvent.__table__  # type: ignore[attr-defined]
    where = table.c.event_id.is_not(None)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(
        index_elements=["job_id", "event_id"], index_where=where
    )
