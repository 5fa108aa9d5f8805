"""Following a job by stream: the journal holds every event once, in order, and the end is
recorded through the one terminal path, confirmed by a final get."""

from __future__ import annotations

from stream_checks import ClockDriver, emulator_events, wait_until

from jobs.service import SubmitSpec

RESEARCH = "deep-research-preview-04-2026"


def _follow_to_the_end(service, tracker, clock, job_id, *, step=5.0):
    assert tracker.start_streams(job_ids=[job_id]) == 1
    with ClockDriver(clock, step=step):
        wait_until(
            lambda: service.get_job(job_id).job_status.is_terminal and not tracker.open_streams(),
            what="the job to end",
        )
        tracker.check_streams()


def test_a_streamed_job_journals_every_event_once_and_ends_with_one_get(
    service, emulator, clock, make_tracker
):
    job = service.submit_new(SubmitSpec(prompt="how do tides work?", agent=RESEARCH))
    tracker = make_tracker(service)
    _follow_to_the_end(service, tracker, clock, job.id)
    done = service.get_job(job.id)
    assert done.status == "completed"
    journal = [e.payload_json for e in service.events(job.id)]
    assert journal == emulator_events(emulator.backend, done.interaction_id)
    stats = emulator.backend.stats()["requests"]
    assert (stats["create"], stats["stream"], stats["get"]) == (1, 1, 1)
    assert service.get_result(job.id).output_text


def test_cut_streams_resume_without_duplicates_or_gaps(service, emulator, clock, make_tracker):
    job = service.submit_new(SubmitSpec(prompt="a long report", agent=RESEARCH))
    emulator.backend.faults.cut_stream(7, op="stream", mode="abort", times=1)
    emulator.backend.faults.cut_stream(5, op="stream", mode="eof", times=1)
    tracker = make_tracker(service)
    _follow_to_the_end(service, tracker, clock, job.id)
    done = service.get_job(job.id)
    journal = [e.payload_json for e in service.events(job.id)]
    assert journal == emulator_events(emulator.backend, done.interaction_id)
    assert emulator.backend.stats()["requests"]["stream"] >= 3


def test_a_streamed_job_shows_the_status_its_stream_announces(
    service, emulator, clock, make_tracker
):
    """`list` and the web page read the jobs table: a streamed job is not left `queued` there
    while its stream says in_progress (the terminal status still waits for the confirming get)."""
    job = service.submit_new(SubmitSpec(prompt="how do tides work?", agent=RESEARCH))
    assert service.get_job(job.id).status == "queued"
    tracker = make_tracker(service)
    assert tracker.start_streams(job_ids=[job.id]) == 1
    with ClockDriver(clock, step=1.0):
        wait_until(
            lambda: service.get_job(job.id).status == "in_progress",
            what="in_progress from the stream",
        )
        wait_until(
            lambda: service.get_job(job.id).job_status.is_terminal and not tracker.open_streams(),
            what="the job to end",
        )
        tracker.check_streams()
    history = [e.kind for e in service.store.events_for(job.id)]
    assert history.count("in_progress") == 1 and history[-1] == "completed", history
