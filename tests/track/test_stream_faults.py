"""The stream faults the real service is reported to show (interactions-api.md section 12), on
the emulator: the journal neither duplicates nor misses an event, and the job ends recorded."""

from __future__ import annotations

from stream_checks import ClockDriver, emulator_events, wait_until

from jobs.service import SubmitSpec

RESEARCH = "deep-research-preview-04-2026"


def _run(service, tracker, clock, job_id, *, timeout=60.0, idle=None):
    if idle is not None:
        tracker.idle = idle
    tracker.start(interval=0.05)  # the watchdog
    assert tracker.start_streams(job_ids=[job_id]) == 1
    with ClockDriver(clock, step=2.0):
        wait_until(
            lambda: service.get_job(job_id).job_status.is_terminal and not tracker.open_streams(),
            timeout=timeout,
            what="the job to end",
        )
    done = service.get_job(job_id)
    assert done.status == "completed"
    return done


def _journal_is_exact(service, emulator, done):
    journal = [e.payload_json for e in service.events(done.id)]
    expected = emulator_events(emulator.backend, done.interaction_id)
    assert len(journal) == len(set(journal))  # nothing twice
    assert journal == expected  # nothing missed, in order


def test_stream_cut_every_two_simulated_minutes_with_a_plain_text_503(
    service, emulator, clock, make_tracker
):
    job = service.submit_new(SubmitSpec(prompt="why is the sky blue?", agent=RESEARCH))
    emulator.backend.faults.cut_stream_after(120, mode="text_503", times=None)
    # The clock runs 200x: the default 60 s of silence would be 0.3 real seconds, less than a
    # reconnect can take on a loaded machine, and the watchdog would poll. This test is not
    # about the watchdog (the hanging-resume test is).
    done = _run(service, make_tracker(service), clock, job.id, idle=900.0)
    _journal_is_exact(service, emulator, done)
    stats = emulator.backend.stats()
    # A Deep Research run takes 5-25 simulated minutes: cut at least twice, resumed each time.
    assert stats["requests"]["stream"] >= 3
    assert stats["requests"]["get"] == 1  # only the confirming get: cuts are resumed, not polled


def test_a_resumed_stream_that_replays_two_events_then_hangs(
    make_settings, make_service, emulator, clock, make_tracker
):
    service = make_service(make_settings(**{"worker.stream_idle": 30.0}))
    job = service.submit_new(SubmitSpec(prompt="what is a tide?", agent=RESEARCH))
    faults = emulator.backend.faults
    faults.cut_stream(6, op="stream", mode="abort", times=1)
    faults.stall_resume(2, times=1)
    done = _run(service, make_tracker(service), clock, job.id)
    _journal_is_exact(service, emulator, done)
    stats = emulator.backend.stats()
    assert stats["faults"][1]["hits"] == 1  # the stall happened
    assert stats["requests"]["stream"] >= 3  # first, stalled resume, resume after the watchdog
    # The watchdog's get, and a confirming one unless the watchdog's already saw the end.
    assert 1 <= stats["requests"]["get"] <= 2


def test_an_event_delivered_twice_is_stored_once(service, emulator, clock, make_tracker):
    job = service.submit_new(SubmitSpec(prompt="tides, again", agent=RESEARCH))
    emulator.backend.faults.duplicate_event(3, times=None)
    done = _run(service, make_tracker(service), clock, job.id)
    _journal_is_exact(service, emulator, done)
    assert emulator.backend.stats()["faults"][0]["hits"] >= 1
