"""T1, T2, T6 (and T20 for T6): processes SIGKILLed at named crash points lose nothing and pay once.

Each test runs `jobs` (or a small driver around the same Worker code) as a subprocess with
JOBS_CRASH_AT set, so the process really dies at that instant; the emulator runs on the real clock.
A survivor whose fake clock is past the dead process's lease then takes over.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from reliability_checks import check_invariants, creates_by_job, make_cli, wait_for

from jobs.models import JobStatus
from jobs.service import SubmitSpec

pytestmark = pytest.mark.slow

SIGKILLED = -9

# One worker pass, as `jobs poll --once` does it, on a clock `ahead` seconds past the real one (so the
# leases of the processes killed before it have expired).
WORKER_PASS = """
import sys
from datetime import UTC, datetime, timedelta
from jobs.app import build_app
from jobs.clock import FakeClock
from jobs.worker import Worker

clock = FakeClock(datetime.now(UTC) + timedelta(seconds=float(sys.argv[1])))
app = build_app(clock=clock, kind="worker")
report = Worker(app.service).poll_once()
print(report.submitted, report.polled, report.finished, report.errors)
app.close()
"""


def only_job(store):
    jobs = store.list_jobs()
    assert len(jobs) == 1, [j.status for j in jobs]
    return jobs[0]


@pytest.mark.parametrize(
    ("crash_at", "creates"),
    [("submit.after_create", 1), ("submit.before_create", 0)],
    ids=["T1-after-create", "T2-before-create"],
)
def test_submitter_killed_around_create_leaves_submit_unknown(
    cli, live_emulator, survivor, crash_at, creates
):
    done = cli.run("submit", "Why is the sky blue?", crash_at=crash_at)
    assert done.returncode == SIGKILLED, done.stderr

    service = survivor(cli)
    job = only_job(service.store)
    assert job.status == JobStatus.SUBMITTING.value  # written ahead, before the process died
    assert live_emulator.backend.stats()["creates"] == creates
    if creates:
        assert creates_by_job(live_emulator.backend.stats())[job.id] == 1

    report = service.run_pass()  # the submitter's lease has expired for the survivor
    assert report.marked_unknown == 1
    job = service.get_job(job.id)
    assert job.status == JobStatus.SUBMIT_UNKNOWN.value and job.interaction_id is None
    for _ in range(3):  # never resubmitted automatically
        service.clock.advance(600)
        service.run_pass()
    stats = live_emulator.backend.stats()
    assert stats["requests"]["create"] == creates
    check_invariants(service.store, stats, accepted=[job.id])

    listing = cli.run("list")
    assert (
        listing.returncode == 0 and job.id in listing.stdout and "submit_unknown" in listing.stdout
    )
    shown = cli.run("show", job.id)
    assert shown.returncode == 0 and "submit_unknown" in shown.stdout
    assert "resubmit" in shown.stdout  # says what the user can do
    as_json = json.loads(cli.run("show", job.id, "--json").stdout)
    assert as_json["status"] == "submit_unknown"


def test_resubmit_is_explicit_says_what_it_costs_and_is_counted(cli, live_emulator, survivor):
    assert (
        cli.run(
            "submit",
            "Research tea",
            "--agent",
            "deep-research-preview-04-2026",
            crash_at="submit.after_create",
        ).returncode
        == SIGKILLED
    )
    service = survivor(cli)
    service.run_pass()
    job = only_job(service.store)
    assert job.status == "submit_unknown"

    declined = cli.run("resubmit", job.id, input="n\n")
    assert declined.returncode != 0
    assert "billed again" in declined.stderr and "cost real money" in declined.stderr
    assert creates_by_job(live_emulator.backend.stats())[job.id] == 1

    accepted = cli.run("resubmit", job.id, "--yes")
    assert accepted.returncode == 0, accepted.stderr
    job = service.get_job(job.id)
    assert job.interaction_id and job.job_status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)
    stats = live_emulator.backend.stats()
    assert creates_by_job(stats)[job.id] == 2  # the one lost, and the one the user asked for
    check_invariants(service.store, stats, accepted=[job.id])  # allowed: one resubmit event
    assert [e.kind for e in service.store.events_for(job.id)].count("resubmit") == 1
    # a job that has its interaction cannot be resubmitted again
    again = cli.run("resubmit", job.id, "--yes")
    assert again.returncode != 0 and creates_by_job(live_emulator.backend.stats())[job.id] == 2


def test_worker_killed_after_create_leaves_submit_unknown(cli, live_emulator, survivor):
    """T1 through the worker: a job recorded by the CLI, created by `jobs poll --once`, which dies."""
    service = survivor(cli, ahead=0.0)
    job = service.create_job(SubmitSpec(prompt="queued for the worker"))
    assert cli.run("poll", "--once", crash_at="submit.after_create").returncode == SIGKILLED
    assert creates_by_job(live_emulator.backend.stats())[job.id] == 1
    service.clock.advance(600)
    service.run_pass()
    assert service.get_job(job.id).status == "submit_unknown"
    check_invariants(service.store, live_emulator.backend.stats(), accepted=[job.id])


def test_cli_killed_after_sending_cancel_gets_the_final_status_from_the_server(
    cli, live_emulator, survivor
):
    live_emulator.backend.faults.force_outcome("in_progress")  # a job that would run forever
    submitted = json.loads(cli.run("submit", "long one", "--json").stdout)
    assert cli.run("cancel", submitted["id"], crash_at="cancel.after_send").returncode == SIGKILLED
    service = survivor(cli)
    service.run_pass()  # the cancel was sent and recorded as sent: the worker polls, never re-sends
    job = service.get_job(submitted["id"])
    assert job.status == "cancelled" and job.remote_status == "cancelled"
    assert live_emulator.backend.stats()["requests"]["cancel"] == 1
    check_invariants(service.store, live_emulator.backend.stats(), accepted=[job.id])


def test_worker_killed_during_terminal_update_repeatedly(
    database_url, tmp_path, live_emulator, survivor
):
    """T6 (and T20 on PostgreSQL): kill the worker inside the terminal write, again and again.

    Output and usage are stored exactly once, and each job is terminal within 2 polls once the dead
    worker's lease has expired."""
    cli = make_cli(
        tmp_path / "home",
        live_emulator.base_url,
        db_url=database_url,
        config={
            "api": {"timeout": 5.0, "create_timeout": 5.0},
            "worker": {"lease": 60.0},
            "polling": {"min_interval": 0.2},
        },
    )
    service = survivor(cli, ahead=0.0)
    ids = [service.submit_new(SubmitSpec(prompt=f"question {i}")).id for i in range(3)]
    interactions = {service.get_job(i).interaction_id for i in ids}

    def remote_done() -> bool:
        due = all(service.get_job(i).next_poll_at < datetime.now(UTC) for i in ids)
        finished = [r for r in live_emulator.backend.list_interactions() if r["id"] in interactions]
        return due and all(r["status"] == "completed" for r in finished)

    wait_for(remote_done, timeout=30, what="the emulator to finish the jobs")
    before = check_invariants(service.store, live_emulator.backend.stats(), accepted=ids)

    # First kill: the real CLI. Then drivers whose clocks are past every earlier lease.
    kills = [cli.run("poll", "--once", crash_at="store.terminal_uncommitted").returncode]
    for k, point in enumerate(
        [
            "poll.after_get",
            "store.terminal_uncommitted",
            "store.terminal_uncommitted",
            "poll.after_get",
        ],
        start=1,
    ):
        kills.append(cli.python(WORKER_PASS, str(k * 61), crash_at=point).returncode)
        after = check_invariants(
            service.store, live_emulator.backend.stats(), accepted=ids, before=before
        )
        assert all(s.status == "in_progress" or s.status == "queued" for s in after.values())
        assert all(service.get_result(i) is None for i in ids), "a result was half-written"
    assert kills == [SIGKILLED] * 5

    gets_before = live_emulator.backend.stats()["requests"]["get"]
    service.clock.advance(6 * 61)  # past the last dead worker's lease
    report = service.run_pass()
    assert report.finished == 3
    assert live_emulator.backend.stats()["requests"]["get"] - gets_before <= 2 * len(ids)

    for job_id in ids:
        job, result = service.get_job(job_id), service.get_result(job_id)
        remote = live_emulator.backend.get(job.interaction_id)
        assert job.status == "completed" and result is not None
        assert (
            job.total_tokens == remote["usage"]["total_tokens"]
            and job.output_chars == len(result.output_text) > 0
        )
        assert [e.kind for e in service.store.events_for(job_id)].count("completed") == 1
    final = check_invariants(
        service.store, live_emulator.backend.stats(), accepted=ids, before=before
    )
    service.clock.advance(3600)
    service.run_pass()
    check_invariants(service.store, live_emulator.backend.stats(), accepted=ids, before=final)
