"""Issue 8: a submitter never loses an interaction id it received, and a user who has one can attach
it to its job. The store refuses the id (a full disk right after create); the submitter retries the
write while it lives, keeps the id in a spool file under $JOBS_HOME that survives it, and any later
pass records it; `gjobs adopt` resolves a submit_unknown job from the id's `jobs-id` label."""

from __future__ import annotations

import pytest
from reliability_checks import check_invariants, creates_by_job, run_passes
from test_store_faults import UNLIMITED, DiskFull, FillAfter

from jobs.errors import InvalidTransition, StoreError
from jobs.service import SubmitSpec


def keep_full(service, disk):
    """While the submitter waits to retry, whatever room SQLite found is used up again."""
    sleep = service.clock.sleep

    def sleep_and_refill(seconds):
        sleep(seconds)
        if disk.limit not in (None, UNLIMITED):
            disk.fill()

    service.clock.sleep = sleep_and_refill


def test_a_submitter_that_dies_with_an_unrecorded_id_leaves_it_in_the_spool(
    make_service, make_settings, emulator, clock
):
    """Today: the CLI prints `was sent (interaction int_...) but could not be recorded yet`, exits,
    and the job later becomes submit_unknown without the id: a paid run never tracked."""
    cli = make_service(make_settings(**{"submit.max_wait": 2.0}), owner="cli-1")
    disk = DiskFull(cli.store.db)
    cli.gateway = FillAfter(cli.gateway, disk, "create")
    keep_full(cli, disk)
    with pytest.raises(StoreError, match="could not be recorded") as raised:
        cli.submit_new(SubmitSpec(prompt="the disk fills as it is created"))
    assert "spool" in str(raised.value)
    job = cli.list_jobs()[0]
    assert job.status == "submitting" and creates_by_job(emulator.backend.stats())[job.id] == 1
    del cli  # the process ends; only the spool file remembers the id
    disk.lift()
    clock.advance(3600)  # long after its lease: today this is where it becomes submit_unknown
    worker = make_service(make_settings(), owner="worker-1")
    worker.run_pass()
    recovered = worker.get_job(job.id)
    assert recovered.interaction_id, recovered.status
    run_passes(worker, clock, until=lambda: worker.get_job(job.id).status == "completed")
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 1
    assert not list((worker.settings.home / "spool").glob("*"))
    check_invariants(worker.store, stats, accepted=[job.id])


def test_a_submitter_retries_the_write_while_it_lives(make_service, make_settings, emulator):
    """The disk frees up while `submit` still runs: the id is recorded, the user sees no error."""
    cli = make_service(make_settings(**{"submit.max_wait": 30.0}), owner="cli-1")
    disk = DiskFull(cli.store.db)
    cli.gateway = FillAfter(cli.gateway, disk, "create")
    sleep = cli.clock.sleep

    def sleep_then_free(seconds):
        if disk.limit not in (None, UNLIMITED):
            disk.lift()
        sleep(seconds)

    cli.clock.sleep = sleep_then_free
    job = cli.submit_new(SubmitSpec(prompt="the disk fills, then frees"))
    assert job.interaction_id and job.status in ("queued", "in_progress")
    assert creates_by_job(emulator.backend.stats())[job.id] == 1
    assert not list((cli.settings.home / "spool").glob("*"))


def test_resubmit_of_a_job_whose_id_is_spooled_adopts_it_instead_of_paying_again(
    make_service, make_settings, emulator, clock
):
    cli = make_service(make_settings(**{"submit.max_wait": 0.0}), owner="cli-1")
    disk = DiskFull(cli.store.db)
    cli.gateway = FillAfter(cli.gateway, disk, "create")
    keep_full(cli, disk)
    with pytest.raises(StoreError):
        cli.submit_new(SubmitSpec(prompt="unrecorded"))
    job_id = cli.list_jobs()[0].id
    disk.lift()
    # Another process (whose spool is elsewhere) found the submission stale meanwhile.
    other = make_service(make_settings(), owner="other")
    other.recovery.spool.directory = other.settings.home / "not-here"
    clock.advance(3600)
    other.run_pass()
    assert other.get_job(job_id).status == "submit_unknown"
    again = make_service(make_settings(), owner="cli-2")
    with pytest.raises(InvalidTransition, match="recovered"):
        again.resubmit(job_id)
    assert again.get_job(job_id).interaction_id
    assert creates_by_job(emulator.backend.stats())[job_id] == 1
