"""T9, T11, T12 and the 429 on get: polling respects the service and never fails a job on a
transient error; odd replies keep the job visible; a 404 after retention ends it as expired."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from reliability_checks import all_settled, check_invariants, run_passes

from jobs.errors import NotSent, RateLimited
from jobs.gateway import _map_status
from jobs.service import SubmitSpec
from jobs.worker import Worker


def submit_many(service, n, **spec):
    return [service.submit_new(SubmitSpec(prompt=f"question {i}", **spec)).id for i in range(n)]


# -- the server's pace -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "details", "expected"),
    [
        ({"retry-after": "12"}, [], 12.0),
        ({"retry-after-ms": "1500"}, [], 1.5),
        ({}, [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}], 7.0),
        ({}, [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.250s"}], 0.25),
        ({}, [{"@type": "type.googleapis.com/google.rpc.QuotaFailure"}], None),
    ],
    ids=["header", "header-ms", "retryinfo", "retryinfo-fraction", "none"],
)
def test_the_429_delay_is_read_from_the_header_or_the_body(headers, details, expected):
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "slow down",
            "details": details,
        }
    }
    error = _map_status(429, body, SimpleNamespace(headers=headers), "get")
    assert isinstance(error, RateLimited) and error.retry_after == expected
    unavailable = _map_status(503, body, SimpleNamespace(headers=headers), "cancel")
    assert isinstance(unavailable, NotSent) and unavailable.retry_after == expected
    # a create answered 503 may have run (AIP-194): never "not sent"
    assert not isinstance(
        _map_status(503, body, SimpleNamespace(headers=headers), "create"), NotSent
    )


def test_a_429_on_get_pauses_the_whole_worker_not_just_one_job(
    make_service, make_settings, emulator, clock
):
    service = make_service(make_settings(**{"polling.min_interval": 5.0}))
    ids = submit_many(service, 8)
    clock.advance(10)  # all due
    emulator.backend.faults.fail("get", 429, times=1, retry_after=20.0)
    gets = emulator.backend.stats()["requests"]["get"]
    report = service.run_pass()
    assert emulator.backend.stats()["requests"]["get"] == gets + 1, "kept polling after a 429"
    assert report.polled == 1 and service.paused_until == clock.now() + timedelta(seconds=20)
    assert service.store.leases() == [], "jobs claimed in the same chunk must be released"
    waiting = service.create_job(SubmitSpec(prompt="recorded while paused"))
    creates = emulator.backend.stats()["requests"]["create"]
    for _ in range(3):  # nothing at all is sent while paused, submissions included
        clock.advance(6)
        assert service.run_pass().paused_for > 0
    assert emulator.backend.stats()["requests"]["get"] == gets + 1
    assert emulator.backend.stats()["requests"]["create"] == creates
    clock.advance(3)  # 21 s after the 429
    assert service.run_pass().polled == len(ids)
    assert emulator.backend.stats()["requests"]["get"] == gets + 1 + len(ids)
    assert service.get_job(waiting.id).interaction_id


def test_a_429_on_create_pauses_the_other_submissions_too(service, emulator, clock):
    ids = [service.create_job(SubmitSpec(prompt=f"p{i}")).id for i in range(5)]
    emulator.backend.faults.fail("create", 429, times=1, retry_after=15.0)
    service.run_pass()
    assert emulator.backend.stats()["requests"]["create"] == 1
    clock.advance(10)
    service.run_pass()
    assert emulator.backend.stats()["requests"]["create"] == 1
    clock.advance(6)
    service.run_pass()
    assert all(service.get_job(i).interaction_id for i in ids)
    assert emulator.backend.stats()["creates"] == 5


# -- T9 ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_T9_30_percent_5xx_on_get_for_10_minutes_fails_nothing_and_converges(
    make_service, make_settings, emulator, clock
):
    service = make_service(make_settings(**{"polling.max_error_backoff": 120.0}))
    ids = submit_many(service, 24) + submit_many(service, 2, agent="deep-research-preview-04-2026")
    errors = emulator.backend.faults.fail("get", 503, rate=0.3)
    more = emulator.backend.faults.fail("get", 500, rate=0.1)
    before = check_invariants(service.store, emulator.backend.stats(), accepted=ids)
    start = clock.now()
    worst = 0
    while clock.now() - start < timedelta(minutes=10):
        clock.advance(2.0)
        service.run_pass()
        counts = service.store.count_by_status()
        assert "failed" not in counts and "expired" not in counts, counts
        worst = max(worst, max(j.consecutive_errors for j in service.list_jobs()))
        if clock.now().second < 2:  # about once a simulated minute
            before = check_invariants(
                service.store, emulator.backend.stats(), accepted=ids, before=before
            )
    assert errors.hits > 20 and worst >= 2  # the fault really bit, repeatedly on some job
    emulator.backend.faults.remove(errors.id)
    emulator.backend.faults.remove(more.id)
    run_passes(service, clock, until=lambda: all_settled(service.store), step=5.0, limit=2000)
    assert service.store.count_by_status() == {"completed": len(ids)}
    check_invariants(service.store, emulator.backend.stats(), accepted=ids, before=before)


def test_transient_errors_back_off_with_full_jitter_up_to_the_cap(
    make_service, make_settings, emulator, clock
):
    service = make_service(
        make_settings(**{"polling.max_error_backoff": 60.0, "polling.min_interval": 2.0})
    )
    (job_id,) = submit_many(service, 1)
    emulator.backend.faults.fail("get", 500)
    delays = []
    for _ in range(40):
        job = service.get_job(job_id)
        clock.advance(max(0.0, (job.next_poll_at - clock.now()).total_seconds()) + 0.01)
        service.run_pass()
        after = service.get_job(job_id)
        delays.append((after.next_poll_at - clock.now()).total_seconds())
    job = service.get_job(job_id)
    assert job.status in ("queued", "in_progress") and job.consecutive_errors == 40
    assert max(delays) <= 60.0 and min(delays) >= 1.0
    assert len({round(d, 3) for d in delays[10:]}) > 20  # jittered, not a fixed ladder
    assert "HTTP 500" in job.error_message


# -- T11 ---------------------------------------------------------------------------------------------


def test_T11_an_unknown_status_keeps_the_job_visible_and_the_worker_running(
    service, emulator, clock
):
    emulator.backend.faults.force_outcome("paused_for_lunch")
    (job_id,) = submit_many(service, 1)
    worker = Worker(service)
    polls = 0
    for _ in range(120):  # one simulated hour
        clock.advance(30)
        polls += worker.poll_once().polled
    job = service.get_job(job_id)
    assert job.status == "unknown" and job.remote_status == "paused_for_lunch"
    assert "paused_for_lunch" in job.error_message and job.error_code == "unknown_status"
    assert 10 <= polls <= 120  # polled on, with the usual pacing
    assert [j.id for j in service.list_jobs() if j.status == "unknown"] == [job_id]
    # the raw payload is kept: the job's event history has the reply as the API sent it
    detail = next(e.detail for e in service.store.events_for(job_id) if e.kind == "unknown")
    assert (
        '"status": "paused_for_lunch"' in detail
        and emulator.backend.get(job.interaction_id)["id"] in detail
    )


@pytest.mark.parametrize("kind", ["missing_fields", "invalid_json", "html_502"])
def test_T11_malformed_replies_keep_the_job_visible_then_it_completes(
    service, emulator, clock, kind
):
    (job_id,) = submit_many(service, 1)
    emulator.backend.faults.malformed("get", kind, times=3)
    worker = Worker(service)
    seen = set()
    for _ in range(3):
        job = service.get_job(job_id)
        clock.advance(max(0.0, (job.next_poll_at - clock.now()).total_seconds()) + 0.01)
        report = worker.poll_once()
        assert report.polled == 1
        job = service.get_job(job_id)
        seen.add(job.status)
        assert not job.job_status.is_terminal
    if kind == "html_502":  # a proxy error says nothing about the job: its status stays
        assert seen <= {"queued", "in_progress"} and "502" in job.error_message
    else:
        assert seen == {"unknown"}
        detail = next(e.detail for e in service.store.events_for(job_id) if e.kind == "unknown")
        assert detail, "the malformed reply is kept in the job's history"
    run_passes(
        service,
        clock,
        until=lambda: service.get_job(job_id).job_status.is_terminal,
        step=5.0,
        limit=200,
    )
    job = service.get_job(job_id)
    assert job.status == "completed" and job.error_message is None
    check_invariants(service.store, emulator.backend.stats(), accepted=[job_id])


def test_requires_action_is_shown_as_needing_the_user(service, emulator, clock):
    emulator.backend.faults.force_outcome("requires_action")
    (job_id,) = submit_many(service, 1)
    done = service.wait(job_id, timeout=600)
    assert done.status == "requires_action" and "waiting for you" in done.error_message
    assert not done.job_status.is_terminal


# -- T12 ---------------------------------------------------------------------------------------------


def test_T12_a_404_after_retention_ends_a_job_as_expired(service, emulator, clock):
    emulator.backend.configure(retention=3600)
    (finished,) = submit_many(service, 1)
    run_passes(
        service,
        clock,
        until=lambda: service.get_job(finished).job_status.is_terminal,
        step=2,
        limit=200,
    )
    assert service.get_job(finished).status == "completed"
    forgotten = service.submit_new(SubmitSpec(prompt="nobody polls me")).id
    kept = check_invariants(service.store, emulator.backend.stats(), accepted=[finished, forgotten])
    clock.advance(86400)  # the worker was down for a day: both interactions are gone remotely
    gets = emulator.backend.stats()["requests"]["get"]
    service.run_pass()
    job = service.get_job(forgotten)
    assert job.status == "expired" and job.error_code == "not_found" and job.job_status.is_terminal
    assert service.get_job(finished).status == "completed"  # its output was saved in time
    assert service.get_result(finished).output_text
    for _ in range(5):  # terminal: never polled again
        clock.advance(600)
        service.run_pass()
    assert emulator.backend.stats()["requests"]["get"] == gets + 1
    check_invariants(
        service.store, emulator.backend.stats(), accepted=[finished, forgotten], before=kept
    )


def test_T12_a_research_job_outliving_retention_expires(service, emulator, clock):
    emulator.backend.configure(retention=120)  # shorter than any research run
    (job_id,) = submit_many(service, 1, agent="deep-research-preview-04-2026")
    run_passes(
        service,
        clock,
        until=lambda: service.get_job(job_id).job_status.is_terminal,
        step=10,
        limit=100,
    )
    job = service.get_job(job_id)
    assert job.status == "expired" and service.get_result(job_id).output_text == ""
    assert json.loads(service.get_result(job_id).raw_json) == {}
