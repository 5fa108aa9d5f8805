"""Schedules fired by the service's per-pass call on a FakeClock: once per fire time whatever the
number of workers, the missed and overlap policies, a bad file as a failed firing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from jobs.clock import FakeClock

START = datetime(2026, 6, 1, 11, 59, 30, tzinfo=UTC)


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def batch_file(tmp_path):
    path = tmp_path / "minute.txt"
    path.write_text("Name one prime.\nName one river.\n")
    return path


def states(service, name="minute"):
    _schedule, firings = service.schedules.history(name)
    return [(f.fire_time.strftime("%H:%M"), f.state) for f in reversed(firings)]


def finish_batches(service, clock):
    for _ in range(100):
        if all(c.live == 0 for _b, c in service.batches.list()):
            return
        clock.advance(3.0)
        service.run_pass()
    raise AssertionError("batches did not end")


def test_two_workers_fire_every_minute_once_each(db_service, emulator, clock, batch_file):
    """Two services (two workers) on one store race on every pass for five minutes of fake time."""
    first, second = db_service(owner="worker-a"), db_service(owner="worker-b")
    first.schedules.add("minute", cron="* * * * *", file=str(batch_file))
    fired = []
    for _ in range(5 * 60 // 5):
        clock.advance(5.0)
        now = clock.now()
        barrier = threading.Barrier(2)

        def fire(service, now=now, barrier=barrier):
            barrier.wait()
            fired.append(service.schedules.fire_due(now))

        threads = [threading.Thread(target=fire, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        first.run_pass()
        second.run_pass()
    assert sum(fired) == 5
    assert states(first) == [(f"12:0{m}", "fired") for m in range(5)]
    batches = first.batches.list()
    assert len(batches) == 5 and all(c.total == 2 for _b, c in batches)
    assert emulator.backend.stats()["creates"] == 10  # 5 firings x 2 lines, each once
    _schedule, firings = first.schedules.history("minute")
    assert {f.worker for f in firings} <= {"worker-a", "worker-b"}


def test_a_restarted_worker_does_not_fire_again(db_service, emulator, clock, batch_file):
    first = db_service(owner="before-restart")
    first.schedules.add("minute", cron="* * * * *", file=str(batch_file))
    clock.advance(31)
    assert first.schedules.fire_due(clock.now()) == 1
    # The same instant seen again by a new process (e.g. the cursor update was lost in a crash).
    restarted = db_service(owner="after-restart")
    schedule = restarted.schedules.get("minute")
    restarted.schedules.store.advance(
        schedule.id, schedule.next_fire_at, START + timedelta(seconds=30)
    )
    assert restarted.schedules.fire_due(clock.now()) == 0
    assert states(restarted) == [("12:00", "fired")]


def test_missed_firings_are_skipped_and_recorded(service, emulator, clock, batch_file):
    service.schedules.add("minute", cron="* * * * *", file=str(batch_file), missed="skip")
    clock.advance(30 + 5 * 60 + 10)  # no worker ran from 12:00 to 12:05:10
    assert service.schedules.fire_due(clock.now()) == 1  # only 12:05 is on time
    assert states(service) == [(f"12:0{m}", "missed") for m in range(5)] + [("12:05", "fired")]


def test_missed_policy_late_runs_once_within_the_grace(service, emulator, clock, batch_file):
    service.schedules.add(
        "minute", cron="*/10 * * * *", file=str(batch_file), missed="late", grace=900
    )
    clock.advance(30 + 25 * 60)  # 12:25: 12:00 and 12:10 are beyond the grace... 12:20 is late
    assert service.schedules.fire_due(clock.now()) == 1
    assert states(service) == [("12:00", "missed"), ("12:10", "missed"), ("12:20", "late")]
    _schedule, firings = service.schedules.history("minute")
    assert "late by 300s" in firings[0].detail


def test_overlap_skip_and_queue(make_service, make_settings, emulator, clock, batch_file):
    service = make_service(make_settings())
    service.schedules.add("minute", cron="* * * * *", file=str(batch_file), overlap="skip")
    service.schedules.add("queued", cron="* * * * *", file=str(batch_file), overlap="queue")
    emulator.backend.speed = 0.001  # the batches stay running for a long while
    clock.advance(31)
    service.schedules.fire_due(clock.now())  # 12:00: both fire
    clock.advance(60)
    service.schedules.fire_due(clock.now())  # 12:01: the 12:00 batches still run
    clock.advance(60)
    service.schedules.fire_due(clock.now())  # 12:02
    assert states(service, "minute") == [
        ("12:00", "fired"),
        ("12:01", "skipped"),
        ("12:02", "skipped"),
    ]
    assert states(service, "queued") == [
        ("12:00", "fired"),
        ("12:01", "queued"),
        ("12:02", "skipped"),
    ]
    emulator.backend.speed = 1000.0
    service.run_pass()
    finish_batches(service, clock)
    service.schedules.fire_due(clock.now())  # the previous batch ended: the queued firing runs
    assert ("12:01", "fired") in states(service, "queued")
    assert len(service.batches.list()) == 3


def test_a_file_missing_or_bad_at_fire_time_is_a_failed_firing(
    service, emulator, clock, batch_file
):
    from jobs.app import App
    from jobs.doctor import run_checks

    batch_file = batch_file.with_name("night.jsonl")
    batch_file.write_text('{"prompt": "ok"}\n')
    service.schedules.add("minute", cron="* * * * *", file=str(batch_file))
    batch_file.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    clock.advance(31)
    assert service.schedules.fire_due(clock.now()) == 0
    batch_file.unlink()
    clock.advance(60)
    service.schedules.fire_due(clock.now())
    _schedule, firings = service.schedules.history("minute")
    assert [f.state for f in firings] == ["failed", "failed"]
    assert "does not exist" in firings[0].detail
    assert "line 2: 'prompt' must be a string" in firings[1].detail
    assert service.batches.list() == [] and emulator.backend.stats()["creates"] == 0
    app = App(service.settings, service.store.db, service.store, service.gateway, service)
    doctor = {c.name: c for c in run_checks(app)}
    assert (
        doctor["schedules"].level == "warn" and "2 firing(s) failed" in doctor["schedules"].detail
    )


def test_pause_resume_run_now(service, emulator, clock, batch_file):
    service.schedules.add(
        "minute", cron="0 3 * * *", file=str(batch_file), timezone="Europe/Berlin"
    )
    schedule = service.schedules.get("minute")
    assert service.schedules.upcoming(schedule)[0].strftime("%H:%M %Z") == "03:00 CEST"
    service.schedules.pause("minute")
    clock.advance(86400)
    assert service.schedules.fire_due(clock.now()) == 0 and states(service) == []
    service.schedules.resume("minute")
    firing = service.schedules.run_now("minute")
    assert firing.state == "fired" and firing.batch_id
    assert states(service) == [(clock.now().strftime("%H:%M"), "fired")]


def test_a_schedules_budget_holds_for_each_firing(service, emulator, clock, batch_file):
    from jobs.service.budgets import Ceiling

    service.schedules.add("minute", cron="* * * * *", file=str(batch_file))
    schedule = service.schedules.get("minute")
    service.budgets.set("schedule", schedule.id, Ceiling(max_tokens=100))
    clock.advance(31)  # 12:00:01: the 12:00 firing
    assert service.schedules.fire_due(clock.now()) == 1
    _schedule, firings = service.schedules.history("minute")
    budget = service.budgets.store.get_budget("batch", firings[0].batch_id)
    assert budget is not None and budget.max_tokens == 100  # the firing's batch has the ceiling
    assert service.budgets.store.get_budget("batch", "no-such-batch") is None
