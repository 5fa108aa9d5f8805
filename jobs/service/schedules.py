"""Schedules: a batch file fired on a cron expression, by whichever worker gets there first.

APScheduler's CronTrigger computes the fire times (in the schedule's zone); our store decides who
fires (a unique firing row per schedule and fire time, inserted in the same transaction as the
batch it records). `fire_due(now)` is the worker's one call per pass.

Policies, each recorded in the history whichever way it goes:
- missed (no worker saw the fire time within `schedule.on_time` seconds): `skip` records it as
  missed; `late` runs it once, late, if seen within the schedule's grace window (older misses, and
  all but the latest of several, are recorded as missed).
- overlap (the previous firing's batch still has live lines): `skip`, `queue` (one firing waits and
  runs when the previous batch ends; more are skipped) or `alongside`.
- time zones: the cron fields are wall-clock times of the zone. On a DST change, a time that does
  not exist that day runs once, right after the jump (APScheduler's choice: 02:30 on a spring-forward
  night in Berlin runs at 03:30); a fixed-hour time that occurs twice (autumn) runs once, at its first
  occurrence, as Vixie cron does; `*`-hour schedules follow real time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import Session

from jobs.errors import UsageError
from jobs.models import (
    Batch,
    FiringState,
    MissedPolicy,
    OverlapPolicy,
    Schedule,
    ScheduleFiring,
)
from jobs.service.batch_file import BatchFileError
from jobs.store.schedules import ScheduleStore, insert_firing

log = logging.getLogger(__name__)

MAX_CATCH_UP = (
    10_000  # fire times looked at per schedule and pass (a long-stopped every-minute job)
)


def make_trigger(cron: str, timezone: str):
    from apscheduler.triggers.cron import CronTrigger

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {timezone!r} (e.g. UTC, Europe/Berlin)") from None
    try:
        return CronTrigger.from_crontab(cron, timezone=zone)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"bad cron expression {cron!r}: {exc} (five fields: minute hour day month weekday)"
        ) from None


def next_fire_after(trigger, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, in UTC (see the DST notes above)."""
    zone = trigger.timezone
    fixed_hour = not str(trigger.fields[5]).startswith("*")
    start = after + timedelta(microseconds=1)
    for _ in range(1000):
        candidate = trigger.get_next_fire_time(None, start.astimezone(zone))
        if candidate is None:
            return None
        candidate = candidate.astimezone(UTC)
        if candidate <= after:
            # APScheduler 3.x can step backwards inside a repeated (autumn) hour: move on by hand.
            start += timedelta(minutes=1)
            continue
        local = candidate.astimezone(zone)
        if fixed_hour and local.fold == 1 and _ambiguous(local):
            start = candidate + timedelta(microseconds=1)  # the second 02:30 of an autumn night
            continue
        return candidate
    return None


def _ambiguous(local: datetime) -> bool:
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


class ScheduleService:
    def __init__(self, service) -> None:
        self.service = service
        self.store = ScheduleStore(service.store.db)

    # -- managing ----------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        *,
        cron: str,
        file: str,
        timezone: str = "UTC",
        missed: str = MissedPolicy.SKIP.value,
        grace: int = 3600,
        overlap: str = OverlapPolicy.SKIP.value,
        notify: str | None = None,
    ) -> Schedule:
        if not name.strip() or len(name) > 200:
            raise UsageError("a schedule name is 1 to 200 characters")
        trigger = make_trigger(cron, timezone)
        path = Path(file).expanduser().absolute()
        self._read_file(path)  # refuse a missing or bad file now, not at 2 a.m.
        if notify:
            notify = self.service.notify.check_target(notify)
        now = self.service.clock.now()
        schedule = Schedule(
            name=name,
            cron=cron,
            timezone=timezone,
            file=str(path),
            missed=missed,
            grace_seconds=grace,
            overlap=overlap,
            notify=notify,
            created_at=now,
            next_fire_at=next_fire_after(trigger, now - timedelta(microseconds=1)),
        )
        return self.store.add(schedule)

    def get(self, name: str) -> Schedule:
        return self.store.get(name)

    def list(self) -> list[Schedule]:
        return self.store.list()

    def pause(self, name: str) -> Schedule:
        return self.store.set_paused(name, True, None)

    def resume(self, name: str) -> Schedule:
        """Fire times while paused are not missed firings: the next one is from now on."""
        schedule = self.store.get(name)
        trigger = make_trigger(schedule.cron, schedule.timezone)
        now = self.service.clock.now()
        return self.store.set_paused(
            name, False, next_fire_after(trigger, now - timedelta(microseconds=1))
        )

    def remove(self, name: str) -> None:
        self.store.remove(name)

    def history(self, name: str, limit: int = 50) -> tuple[Schedule, list[ScheduleFiring]]:
        schedule = self.store.get(name)
        assert schedule.id is not None
        return schedule, self.store.history(schedule.id, limit)

    def upcoming(self, schedule: Schedule, count: int = 1) -> list[datetime]:
        """The next fire times, in the schedule's zone."""
        trigger = make_trigger(schedule.cron, schedule.timezone)
        zone = ZoneInfo(schedule.timezone)
        times: list[datetime] = []
        moment = schedule.next_fire_at
        if moment is None or schedule.paused:
            return times
        times.append(moment)
        while len(times) < count and (moment := next_fire_after(trigger, moment)) is not None:
            times.append(moment)
        return [t.astimezone(zone) for t in times]

    def run_now(self, name: str) -> ScheduleFiring:
        """Fire once now, whatever the cron and the overlap policy say (it is the user's word)."""
        schedule = self.store.get(name)
        now = self.service.clock.now()
        firing = self._fire(schedule, now, now, FiringState.FIRED, "run-now")
        if firing is None:
            raise UsageError(f"schedule {name!r} fired at this very moment already; try again")
        return firing

    # -- the per-pass call -------------------------------------------------------------------------

    def fire_due(self, now: datetime) -> int:
        """Deal with every fire time that has come (fire, queue, skip or record as missed), and with
        queued firings whose previous batch has ended. Returns how many batches were recorded."""
        fired = 0
        for schedule in self.store.with_queued():
            try:
                fired += self._release_queued(schedule, now)
            except Exception:  # one schedule's problem must not stop the worker or the others
                log.exception("schedule %s: queued firing failed", schedule.name)
        for schedule in self.store.due(now):
            try:
                fired += self._fire_due_times(schedule, now)
            except Exception:
                log.exception("schedule %s: firing failed", schedule.name)
        return fired

    def _fire_due_times(self, schedule: Schedule, now: datetime) -> int:
        trigger = make_trigger(schedule.cron, schedule.timezone)
        cursor = schedule.next_fire_at
        times: list[datetime] = []
        moment = cursor
        while moment is not None and moment <= now and len(times) < MAX_CATCH_UP:
            times.append(moment)
            moment = next_fire_after(trigger, moment)
        on_time = float(self.service.settings["schedule.on_time"])
        fired = 0
        for index, fire_time in enumerate(times):
            lateness = (now - fire_time).total_seconds()
            latest = index == len(times) - 1
            if lateness <= on_time:
                fired += self._act(schedule, fire_time, now, late=False)
            elif (
                schedule.missed == MissedPolicy.LATE.value
                and latest
                and lateness <= schedule.grace_seconds
            ):
                fired += self._act(schedule, fire_time, now, late=True)
            else:
                why = (
                    f"no worker ran within {on_time:g}s of it (missed policy skip)"
                    if schedule.missed == MissedPolicy.SKIP.value
                    else "a later firing ran instead"
                    if lateness <= schedule.grace_seconds
                    else f"seen {lateness:.0f}s late, beyond the {schedule.grace_seconds}s grace"
                )
                self._record(schedule, fire_time, now, FiringState.MISSED, f"missed: {why}")
        assert schedule.id is not None
        self.store.advance(schedule.id, cursor, moment)
        return fired

    def _act(self, schedule: Schedule, fire_time: datetime, now: datetime, *, late: bool) -> int:
        state = FiringState.LATE if late else FiringState.FIRED
        note = f"late by {(now - fire_time).total_seconds():.0f}s" if late else ""
        assert schedule.id is not None
        running = self.service.batches.store.live_batches_of_schedule(schedule.id)
        if running and schedule.overlap != OverlapPolicy.ALONGSIDE.value:
            if schedule.overlap == OverlapPolicy.QUEUE.value and not self.store.queued_firing(
                schedule.id
            ):
                self._record(
                    schedule,
                    fire_time,
                    now,
                    FiringState.QUEUED,
                    f"waits for batch {running[0]} to end (overlap policy queue)",
                )
            else:
                why = (
                    "another firing already waits"
                    if schedule.overlap == OverlapPolicy.QUEUE.value
                    else "overlap policy skip"
                )
                self._record(
                    schedule,
                    fire_time,
                    now,
                    FiringState.SKIPPED,
                    f"batch {running[0]} still running ({why})",
                )
            return 0
        return _fired(self._fire(schedule, fire_time, now, state, note))

    def _release_queued(self, schedule: Schedule, now: datetime) -> int:
        assert schedule.id is not None
        if self.service.batches.store.live_batches_of_schedule(schedule.id):
            return 0
        queued = self.store.queued_firing(schedule.id)
        if queued is None:
            return 0
        waited = f"ran after waiting {(now - queued.fire_time).total_seconds():.0f}s (queued)"
        return _fired(
            self._fire(schedule, queued.fire_time, now, FiringState.FIRED, waited, queued)
        )

    def _fire(
        self,
        schedule: Schedule,
        fire_time: datetime,
        now: datetime,
        state: FiringState,
        note: str,
        queued: ScheduleFiring | None = None,
    ) -> ScheduleFiring | None:
        """Read the file as it is now and record it as a batch, in the transaction that claims the
        firing; a missing or bad file is a failed firing. None: another worker took this one."""
        firing = ScheduleFiring(
            schedule_id=schedule.id,
            fire_time=fire_time,
            decided_at=now,
            state=state.value,
            worker=self.service.owner,
            detail=note,
        )
        try:
            parsed = self._read_file(Path(schedule.file))
        except UsageError as exc:
            firing.state = FiringState.FAILED.value
            firing.detail = _file_problem(exc)
            if queued is not None:
                return firing if self._fail_queued(queued, firing) else None
            return firing if self.store.record_firing(firing) else None

        def claim(session: Session) -> bool:
            if queued is None:
                return insert_firing(session, firing)
            result = session.exec(
                sa.update(ScheduleFiring)
                .where(
                    ScheduleFiring.id == queued.id,
                    ScheduleFiring.state == FiringState.QUEUED.value,
                )
                .values(state=state.value, decided_at=now, worker=firing.worker, detail=note)
            )
            firing.id = queued.id
            return result.rowcount == 1

        def link(session: Session, batch: Batch) -> None:
            firing.batch_id = batch.id
            session.exec(
                sa.update(ScheduleFiring)
                .where(ScheduleFiring.id == firing.id)
                .values(batch_id=batch.id)
            )

        recorded = self.service.batches.record(
            parsed,
            name=f"{schedule.name}@{fire_time.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            notify=schedule.notify,
            schedule_id=schedule.id,
            guard=claim,
            after=link,
        )
        if recorded is None:
            return None
        self.service.budgets.carry_to_firing(schedule.id, recorded.batch.id)
        return firing

    def _fail_queued(self, queued: ScheduleFiring, firing: ScheduleFiring) -> bool:
        with self.service.store.db.write() as session:
            result = session.exec(
                sa.update(ScheduleFiring)
                .where(
                    ScheduleFiring.id == queued.id,
                    ScheduleFiring.state == FiringState.QUEUED.value,
                )
                .values(state=firing.state, decided_at=firing.decided_at, detail=firing.detail)
            )
            return result.rowcount == 1

    def _record(
        self,
        schedule: Schedule,
        fire_time: datetime,
        now: datetime,
        state: FiringState,
        detail: str,
    ) -> bool:
        return self.store.record_firing(
            ScheduleFiring(
                schedule_id=schedule.id,
                fire_time=fire_time,
                decided_at=now,
                state=state.value,
                worker=self.service.owner,
                detail=detail,
            )
        )

    def _read_file(self, path: Path):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"{path} does not exist") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        return self.service.batches.parse(raw, source=str(path))


def _file_problem(exc: UsageError) -> str:
    if isinstance(exc, BatchFileError):
        shown = "; ".join(str(e) for e in exc.errors[:5])
        more = f" (+{len(exc.errors) - 5} more)" if len(exc.errors) > 5 else ""
        return f"{exc}: {shown}{more}"
    return str(exc)


def _fired(firing: ScheduleFiring | None) -> int:
    """1 when the firing recorded a batch (not failed, not taken by another worker)."""
    return 1 if firing is not None and firing.batch_id else 0
