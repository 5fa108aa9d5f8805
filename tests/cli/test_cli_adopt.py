"""`gjobs adopt` (issue 8): a submit_unknown job whose create did run is resolved with the
interaction id, checked against the `jobs-id` label the API echoes, without paying again."""

from __future__ import annotations


def _orphan(cli, emulator):
    """A submit_unknown job whose create did run (HTTP 500 after accepting), and its interaction."""
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    job = cli.json("submit", "Research tea.", code=1)
    assert job["status"] == "submit_unknown" and job["interaction_id"] is None
    (remote,) = [
        r for r in emulator.backend.list_interactions() if r["labels"].get("jobs-id") == job["id"]
    ]
    return job, remote["id"]


def test_adopt_attaches_the_interaction_to_its_submit_unknown_job(cli, emulator, drive):
    job, interaction_id = _orphan(cli, emulator)
    assert "adopt" in cli("show", job["id"]).stdout  # show names the way out
    result = cli("adopt", job["id"], interaction_id)
    assert f"interaction {interaction_id}" in result.stdout
    shown = cli.json("show", job["id"])
    assert shown["interaction_id"] == interaction_id
    assert shown["status"] in ("queued", "in_progress")
    assert drive(job["id"]).status == "completed"
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={job['id']}"] == 1
    cli("adopt", job["id"], interaction_id)  # again: already attached, nothing changes


def test_adopt_finds_the_job_from_the_interactions_label(cli, emulator, drive):
    job, interaction_id = _orphan(cli, emulator)
    cli("adopt", interaction_id)
    assert cli.json("show", job["id"])["interaction_id"] == interaction_id
    assert drive(job["id"]).status == "completed"
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={job['id']}"] == 1


def test_adopt_refuses_another_jobs_interaction(cli, emulator, store_rows):
    job, _ = _orphan(cli, emulator)
    other = cli.json("submit", "Another job.")
    before = store_rows()
    message = cli.fails("adopt", job["id"], other["interaction_id"])
    assert f"already job {other['id']}" in message
    assert store_rows() == before
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    second = cli.json("submit", "Yet another.", code=1)
    foreign = next(
        r["id"]
        for r in emulator.backend.list_interactions()
        if r["labels"].get("jobs-id") == second["id"]
    )
    message = cli.fails("adopt", job["id"], foreign)
    assert f"created for job {second['id']}, not {job['id']}" in message
    assert cli.json("show", job["id"])["status"] == "submit_unknown"
