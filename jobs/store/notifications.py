"""Queries of notifications: one row per job or batch to notify, claimed with a compare-and-set.

The terminal write of a job is left alone: a pass finds subjects that have ended and still have a
`waiting` notification, and claims each (`waiting` -> `running`, one winner across processes) before
running its hook; the result is recorded as `sent` or `failed`. A claim whose process died is never
run again (`failed`, "interrupted"): at most once per ending.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database
from jobs.models import BatchLine, Job, Notification, NotifyState
from jobs.store.batches import _LIVE, _TERMINAL


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, subject_kind: str, subject_id: str, target: str, now: datetime) -> None:
        """Attach a hook to a job or batch (the first one given wins)."""
        with self.db.write() as session:
            exists = session.exec(
                select(Notification.id).where(
                    Notification.subject_kind == subject_kind,
                    Notification.subject_id == subject_id,
                )
            ).first()
            if exists is None:
                session.add(
                    Notification(
                        subject_kind=subject_kind,
                        subject_id=subject_id,
                        target=target,
                        created_at=now,
                    )
                )

    def get(self, subject_kind: str, subject_id: str) -> Notification | None:
        with self.db.read() as session:
            return session.exec(
                select(Notification).where(
                    Notification.subject_kind == subject_kind,
                    Notification.subject_id == subject_id,
                )
            ).first()

    def due(self, limit: int) -> list[Notification]:
        """Waiting notifications whose job is terminal, or whose batch has no live line left."""
        job_ended = sa.and_(
            Notification.subject_kind == "job",
            sa.exists().where(Job.id == Notification.subject_id, Job.status.in_(_TERMINAL)),  # type: ignore[attr-defined]
        )
        live_line = (
            sa.exists()
            .where(BatchLine.batch_id == Notification.subject_id)
            .where(Job.id == BatchLine.job_id, Job.status.in_(_LIVE))  # type: ignore[attr-defined]
        )
        batch_ended = sa.and_(
            Notification.subject_kind == "batch",
            sa.exists().where(BatchLine.batch_id == Notification.subject_id),
            ~live_line,
        )
        query = (
            select(Notification)
            .where(Notification.state == NotifyState.WAITING.value)
            .where(sa.or_(job_ended, batch_ended))
            .order_by(Notification.id)
            .limit(limit)
        )
        with self.db.read() as session:
            return list(session.exec(query))

    def claim(self, notification_id: int, owner: str, now: datetime) -> bool:
        """waiting -> running: the one right to run this hook."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.state == NotifyState.WAITING.value,
                )
                .values(state=NotifyState.RUNNING.value, claimed_by=owner, claimed_at=now)
            )
            return result.rowcount == 1

    def finish(
        self, notification_id: int, owner: str, state: NotifyState, detail: str, now: datetime
    ) -> bool:
        with self.db.write() as session:
            result = session.exec(
                sa.update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.state == NotifyState.RUNNING.value,
                    Notification.claimed_by == owner,
                )
                .values(state=state.value, detail=detail[:4000], finished_at=now)
            )
            return result.rowcount == 1

    def fail_interrupted(self, claimed_before: datetime, now: datetime) -> int:
        """Claims older than any hook may run: their process died. Never run again."""
        stale = select(Notification.id).where(
            Notification.state == NotifyState.RUNNING.value,
            Notification.claimed_at < claimed_before,  # type: ignore[operator]
        )
        with self.db.read() as session:  # most passes find none: no write lock for nothing
            if session.exec(stale.limit(1)).first() is None:
                return 0
        with self.db.write() as session:
            result = session.exec(
                sa.update(Notification)
                .where(
                    Notification.state == NotifyState.RUNNING.value,
                    Notification.claimed_at < claimed_before,  # type: ignore[operator]
                )
                .values(
                    state=NotifyState.FAILED.value,
                    finished_at=now,
                    detail="interrupted: the process running the hook stopped; not run again "
                    "(a hook runs at most once)",
                )
            )
            return result.rowcount

    def failed(self, limit: int = 20) -> list[Notification]:
        with self.db.read() as session:
            return list(
                session.exec(
                    select(Notification)
                    .where(Notification.state == NotifyState.FAILED.value)
                    .order_by(Notification.id.desc())  # type: ignore[union-attr]
                    .limit(limit)
                )
            )

    def count_failed(self) -> int:
        with self.db.read() as session:
            return session.exec(
                select(sa.func.count())
                .select_from(Notification)
                .where(Notification.state == NotifyState.FAILED.value)
            ).one()
