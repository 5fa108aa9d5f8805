"""The runner end to end through the real SDK and the emulator, time driven by a fake clock."""

from __future__ import annotations

import json

from jobs.models import JobStatus
from jobs.service import JOB_LABEL, SubmitSpec


def run_until_terminal(service, clock, job_id, *, step=5.0, limit=2000):
    for _ in range(limit):
        job = service.get_job(job_id)
        if job.job_status.is_terminal:
            return job
        clock.advance(step)
        service.run_pass()
    raise AssertionError(f"job {job_id} stuck in {service.get_job(job_id).status}")


def test_submit_records_first_then_creates_once_with_a_label(service, emulator, clock):
    job = service.submit_new(SubmitSpec(prompt="Why is the sky blue?", labels={"team": "a"}))
    assert job.interaction_id and job.status in ("queued", "in_progress")
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 1
    assert stats["creates_by_label"][f"{JOB_LABEL}={job.id}"] == 1
    sent = json.loads(job.request_json)
    assert sent["labels"] == {"team": "a", JOB_LABEL: job.id}
    assert "background" not in sent  # always true, added by the gateway
    events = [e.kind for e in service.store.events_for(job.id)]
    assert events[:3] == ["recorded", "submitting", "submitted"]


def test_a_model_job_is_polled_to_completion_with_output_and_usage(service, emulator, clock):
    job = service.submit_new(SubmitSpec(prompt="Explain tides in two sentences."))
    done = run_until_terminal(service, clock, job.id)
    assert done.status == "completed" and done.remote_status == "completed"
    result = service.get_result(job.id)
    assert result.output_text and done.output_chars == len(result.output_text)
    assert done.total_tokens and done.input_tokens and done.output_tokens
    assert done.total_tokens >= done.input_tokens + done.output_tokens
    assert done.finished_at and done.poll_count >= 1
    remote = emulator.backend.get(job.interaction_id)
    assert remote["usage"]["total_tokens"] == done.total_tokens


def test_polls_get_sparser_as_a_research_job_runs(service, emulator, clock):
    job = service.submit_new(
        SubmitSpec(prompt="Research the history of tea.", agent="deep-research-preview-04-2026")
    )
    done = run_until_terminal(service, clock, job.id, step=1.0, limit=20000)
    assert done.status == "completed"
    elapsed = (done.finished_at - done.submitted_at).total_seconds()
    assert elapsed > 300  # a research run takes simulated minutes
    assert done.poll_count < elapsed / 10  # far fewer polls than one every 10 s
    result = service.get_result(job.id)
    assert json.loads(result.thoughts_json), "research keeps its thought summaries"
    assert result.output_text.lstrip().startswith("#")  # a Markdown report
    assert done.tool_use_tokens


def test_a_continued_job_waits_for_its_predecessor_and_chains(service, emulator, clock):
    first = service.submit_new(SubmitSpec(prompt="Name a colour."))
    second = service.submit_new(SubmitSpec(prompt="Now name another.", continue_job=first.id))
    assert second.status == "pending" and second.interaction_id is None
    assert emulator.backend.stats()["requests"]["create"] == 1
    run_until_terminal(service, clock, first.id)
    done = run_until_terminal(service, clock, second.id)
    assert done.previous_interaction_id == service.get_job(first.id).interaction_id
    assert json.loads(done.request_json)["previous_interaction_id"] == done.previous_interaction_id
    assert [j.id for j in service.chain(done)] == [first.id, second.id]


def test_wait_follows_the_chain_until_the_last_turn_ends(service, emulator, clock):
    first = service.submit_new(SubmitSpec(prompt="Name a colour."))
    second = service.submit_new(SubmitSpec(prompt="Now name another.", continue_job=first.id))
    seen = []
    done = service.wait(second.id, on_update=lambda j: seen.append(j.status))
    assert done.status == "completed"
    assert seen[0] == "pending" and seen[-1] == "completed"


def test_continuing_a_failed_job_is_refused_without_recording(service, emulator, clock):
    emulator.backend.faults.force_outcome("failed", times=1)
    first = service.submit_new(SubmitSpec(prompt="Fail please."))
    run_until_terminal(service, clock, first.id)
    before = len(service.list_jobs())
    import pytest

    from jobs.errors import UsageError

    with pytest.raises(UsageError, match="only a completed job can be continued"):
        service.submit_new(SubmitSpec(prompt="again", continue_job=first.id))
    assert len(service.list_jobs()) == before


def test_a_failed_predecessor_fails_the_waiting_turn_without_sending_it(service, emulator, clock):
    emulator.backend.faults.force_outcome("failed", times=1)
    first = service.submit_new(SubmitSpec(prompt="Fail please."))
    second = service.submit_new(SubmitSpec(prompt="never sent", continue_job=first.id))
    run_until_terminal(service, clock, first.id)
    service.run_pass()
    done = service.get_job(second.id)
    assert done.status == "failed" and done.error_code == "predecessor_not_completed"
    assert done.interaction_id is None
    assert emulator.backend.stats()["requests"]["create"] == 1


def test_failed_outcome_records_the_api_error(service, emulator, clock):
    emulator.backend.faults.force_outcome("failed", times=1)
    job = service.submit_new(SubmitSpec(prompt="x"))
    done = run_until_terminal(service, clock, job.id)
    assert done.status == "failed" and done.error_message


def test_system_instruction_and_agent_are_sent_as_given(service, emulator, clock):
    job = service.submit_new(SubmitSpec(prompt="x", system="Answer in French."))
    assert json.loads(job.request_json)["system_instruction"] == "Answer in French."
    research = service.submit_new(SubmitSpec(prompt="y", agent="deep-research-preview-04-2026"))
    sent = json.loads(research.request_json)
    assert "model" not in sent and sent["agent"] == "deep-research-preview-04-2026"
    assert sent["agent_config"]["type"] == "deep-research"
    assert JobStatus(research.status) in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)


def test_an_id_collision_still_labels_the_create_with_the_jobs_final_id(
    service, emulator, monkeypatch
):
    """Another id is drawn when the first drawn is taken; the create must name the final one."""
    import jobs.store.jobs

    first = service.submit_new(SubmitSpec(prompt="first"))
    draws = iter([first.id, "fresh2"])  # a taken id, then a free one
    monkeypatch.setattr(jobs.store.jobs, "new_job_id", lambda *a: next(draws))
    second = service.submit_new(SubmitSpec(prompt="second"))
    assert second.id == "fresh2"
    labels = emulator.backend.stats()["creates_by_label"]
    assert labels[f"{JOB_LABEL}=fresh2"] == 1 and labels[f"{JOB_LABEL}={first.id}"] == 1
    assert json.loads(second.request_json)["labels"][JOB_LABEL] == "fresh2"


def test_a_bad_spec_is_reported_before_a_missing_key(make_service, make_settings):
    import pytest

    from jobs.errors import UsageError

    service = make_service(make_settings(**{"api.key": ""}))
    with pytest.raises(UsageError, match="either --model or --agent"):
        service.submit_new(SubmitSpec(prompt="x", model="m", agent="a"))
    assert service.list_jobs() == []
