"""`cancel` answering 404 for a live interaction (reported of the real service): the cancel is
sent again on the next pass instead of being forgotten while the job runs on."""

from __future__ import annotations

from jobs.service import SubmitSpec


def test_a_cancel_answered_404_for_a_live_interaction_is_sent_again(service, emulator, clock):
    emulator.backend.faults.force_outcome("in_progress")  # runs until cancelled
    job = service.submit_new(SubmitSpec(prompt="Stop me."))
    emulator.backend.faults.cancel_not_found(times=1)
    after = service.cancel(job.id)
    assert after.status != "cancelled"  # the 404: not cancelled yet
    assert emulator.backend.get(job.interaction_id)["status"] in ("queued", "in_progress")
    clock.advance(5)
    service.run_pass()
    done = service.get_job(job.id)
    assert done.status == "cancelled"
    assert emulator.backend.stats()["requests"]["cancel"] == 2
    assert emulator.backend.get(job.interaction_id)["status"] == "cancelled"
