"""Queries of schedules and their firings.

Who fires is decided here: a firing row is unique per (schedule, fire time) and is inserted with
"on conflict do nothing" in the transaction that acts on it, so of any number of workers (SQLite or
PostgreSQL, restarting or not) exactly one records each fire time, and only that one runs it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from jobs.db import Database
from jobs.errors import JobsError, UsageError
from jobs.models import FiringState, Schedule, ScheduleFiring


class ScheduleNotFound(JobsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule {name!r} (see `gjobs schedule list`)")


def insert_firing(session: Session, firing: ScheduleFiring) -> bool:
    """Insert a firing unless its (schedule, fire time) exists; True when this one was inserted."""
    values = {
        "schedule_id": firing.schedule_id,
        "fire_time": firing.fire_time,
        "decided_at": firing.decided_at,
        "state": firing.state,
        "batch_id": firing.batch_id,
        "worker": firing.worker,
        "detail": firing.detail,
    }
    dialect = session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(ScheduleFiring)
    statement = insert.values(**values).on_conflict_do_nothing(
        index_elements=["schedule_id", "fire_time"]
    )
    result = session.exec(statement.returning(ScheduleFiring.id))  # type: ignore[call-overload]
    row = result.first()
    if row is None:
        return False
    firing.id = row[0]
    return True


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, schedule: Schedule) -> Schedule:
        try:
            with self.db.write() as session:
                session.add(schedule)
                session.flush()
                return schedule
        except IntegrityError:
            raise UsageError(
                f"a schedule named {schedule.name!r} exists already (`gjobs schedule show "
                f"{schedule.name}`)"
            ) from None

    def get(self, name: str) -> Schedule:
        with self.db.read() as session:
            schedule = session.exec(select(Schedule).where(Schedule.name == name)).first()
        if schedule is None:
            raise ScheduleNotFound(name)
        return schedule

    def get_by_id(self, schedule_id: int) -> Schedule | None:
        with self.db.read() as session:
            return session.get(Schedule, schedule_id)

    def list(self) -> list[Schedule]:
        with self.db.read() as session:
            return list(session.exec(select(Schedule).order_by(Schedule.name)))

    def due(self, now: datetime) -> list[Schedule]:
        query = select(Schedule).where(
            Schedule.paused.is_(False),  # type: ignore[attr-defined]
            Schedule.next_fire_at <= now,  # type: ignore[operator]
        )
        with self.db.read() as session:
            return list(session.exec(query))

    def with_queued(self) -> list[Schedule]:
        query = (
            select(Schedule)
            .join(ScheduleFiring, ScheduleFiring.schedule_id == Schedule.id)
            .where(ScheduleFiring.state == FiringState.QUEUED.value)
            .distinct()
        )
        with self.db.read() as session:
            return list(session.exec(query))

    def advance(self, schedule_id: int, cursor: datetime | None, to: datetime | None) -> bool:
        """Move the cursor forward, if nobody moved it meanwhile."""
        with self.db.write() as session:
            result = session.exec(
                sa.update(Schedule)
                .where(Schedule.id == schedule_id, Schedule.next_fire_at == cursor)
                .values(next_fire_at=to)
            )
            return result.rowcount == 1

    def set_paused(self, name: str, paused: bool, next_fire_at: datetime | None) -> Schedule:
        with self.db.write() as session:
            schedule = session.exec(select(Schedule).where(Schedule.name == name)).first()
            if schedule is None:
                raise ScheduleNotFound(name)
            schedule.paused = paused
            if next_fire_at is not None:
                schedule.next_fire_at = next_fire_at
            session.flush()
            return schedule

    def remove(self, name: str) -> bool:
        with self.db.write() as session:
            schedule = session.exec(select(Schedule).where(Schedule.name == name)).first()
            if schedule is None:
                raise ScheduleNotFound(name)
            session.exec(sa.delete(ScheduleFiring).where(ScheduleFiring.schedule_id == schedule.id))
            session.exec(sa.delete(Schedule).where(Schedule.id == schedule.id))
            return True

    def record_firing(self, firing: ScheduleFiring) -> bool:
        """A firing that records no batch (missed, skipped, queued, failed); False: taken."""
        with self.db.write() as session:
            return insert_firing(session, firing)

    def queued_firing(self, schedule_id: int) -> ScheduleFiring | None:
        with self.db.read() as session:
            return session.exec(
                select(ScheduleFiring)
                .where(
                    ScheduleFiring.schedule_id == schedule_id,
                    ScheduleFiring.state == FiringState.QUEUED.value,
                )
                .order_by(ScheduleFiring.fire_time)
            ).first()

    def history(self, schedule_id: int, limit: int = 50) -> list[ScheduleFiring]:
        with self.db.read() as session:
            return list(
                session.exec(
                    select(ScheduleFiring)
                    .where(ScheduleFiring.schedule_id == schedule_id)
                    .order_by(ScheduleFiring.fire_time.desc())  # type: ignore[attr-defined]
                    .limit(limit)
                )
            )

    def last_firing(self, schedule_id: int) -> ScheduleFiring | None:
        found = self.history(schedule_id, limit=1)
        return found[0] if found else None

    def failed_since(self, since: datetime) -> list[tuple[str, ScheduleFiring]]:
        query = (
            select(Schedule.name, ScheduleFiring)
            .join(Schedule, Schedule.id == ScheduleFiring.schedule_id)
            .where(
                ScheduleFiring.state == FiringState.FAILED.value,
                ScheduleFiring.decided_at >= since,
            )
            .order_by(ScheduleFiring.decided_at.desc())  # type: ignore[attr-defined]
        )
        with self.db.read() as session:
            return [(name, firing) for name, firing in session.exec(query)]


def promote_queued(session: Session, firing_id: int, batch_id: str, now: datetime) -> bool:
    """queued -> fired with its batch, if still queued (one winner)."""
    result = session.exec(
        sa.update(ScheduleFiring)
        .where(ScheduleFiring.id == firing_id, ScheduleFiring.state == FiringState.QUEUED.value)
        .values(state=FiringState.FIRED.value, batch_id=batch_id, decided_at=now)
    )
    return result.rowcount == 1
