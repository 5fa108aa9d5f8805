"""`jobs cancel`, `jobs delete`, `jobs resubmit`: what reaches the API, exactly, and what stays here."""

from __future__ import annotations

import pytest

from jobs.emulator.errors import EmulatorError


def requests(emulator, op: str) -> int:
    return emulator.backend.stats()["requests"].get(op, 0)


def test_cancel_a_running_job_sends_one_cancel_and_takes_the_servers_word(cli, emulator):
    job = cli.submit("--research", "Research the history of tea.")
    result = cli("cancel", job["id"])
    assert result.stdout.split() == [job["id"], "cancelled"]
    assert requests(emulator, "cancel") == 1
    assert emulator.backend.get(job["interaction_id"])["status"] == "cancelled"
    shown = cli.json("show", job["id"])
    assert shown["status"] == "cancelled" and shown["remote_status"] == "cancelled"
    assert (
        cli.fails("cancel", job["id"])
        == f"job {job['id']} already ended cancelled; nothing to cancel"
    )
    assert requests(emulator, "cancel") == 1


def test_cancel_json(cli):
    job = cli.submit("--research", "Research the history of tea.")
    cancelled = cli.json("cancel", job["id"])
    assert cancelled["id"] == job["id"] and cancelled["status"] == "cancelled"


def test_cancel_a_job_waiting_on_its_predecessor_is_local(cli, emulator, drive):
    first = cli.submit("Name a colour.")
    waiting = cli.submit("--continue", first["id"], "Now name another.")
    result = cli("cancel", waiting["id"])
    assert result.stdout.split() == [waiting["id"], "cancelled"]
    assert "never sent" in result.stderr
    assert requests(emulator, "cancel") == 0
    drive(first["id"])
    cli("poll", "--once")
    assert cli.json("show", waiting["id"])["interaction_id"] is None  # and it is never sent
    assert requests(emulator, "create") == 1


def test_delete_asks_first_and_no_changes_nothing(cli, emulator, drive):
    job = cli.submit("Name a colour.")
    drive(job["id"])
    result = cli("delete", job["id"], input="n\n", code=1)
    assert f"delete job {job['id']} (completed) here and on the API?" in result.stderr
    assert "not deleted" in result.stderr and result.stdout == ""
    assert cli.json("show", job["id"])["id"] == job["id"]
    assert requests(emulator, "delete") == 0
    assert emulator.backend.get(job["interaction_id"])["status"] == "completed"


def test_delete_with_yes_removes_it_here_and_on_the_api(cli, emulator, drive):
    job = cli.submit("Name a colour.")
    drive(job["id"])
    result = cli("delete", "--yes", job["id"])
    assert result.stdout.strip() == f"deleted {job['id']} here and on the API"
    assert cli.json("list") == []
    assert requests(emulator, "delete") == 1
    with pytest.raises(EmulatorError) as gone:
        emulator.backend.get(job["interaction_id"])
    assert gone.value.status_code == 404


def test_delete_confirmed_interactively(cli, drive):
    job = cli.submit("Name a colour.")
    drive(job["id"])
    cli("delete", job["id"], input="y\n")
    assert cli.json("list") == []


def test_delete_a_running_job_cancels_it_first(cli, emulator):
    job = cli.submit("--research", "Research the history of tea.")
    result = cli("delete", job["id"], input="y\n")
    assert "still running" in result.stderr
    assert requests(emulator, "cancel") == 1 and requests(emulator, "delete") == 1
    assert cli.json("list") == []


def test_delete_local_only_keeps_the_interaction(cli, emulator, drive):
    job = cli.submit("Name a colour.")
    drive(job["id"])
    assert (
        cli("delete", "--yes", "--local-only", job["id"]).stdout.strip()
        == f"deleted {job['id']} here"
    )
    assert requests(emulator, "delete") == 0
    assert emulator.backend.get(job["interaction_id"])["status"] == "completed"


def test_delete_refuses_to_orphan_a_waiting_follow_up(cli, emulator, store_rows):
    first = cli.submit("Name a colour.")
    waiting = cli.submit("--continue", first["id"], "Now name another.")
    before = store_rows()
    message = cli.fails("delete", "--yes", first["id"])
    assert waiting["id"] in message and "cancel" in message
    assert (
        store_rows() == before
        and requests(emulator, "delete") == 0
        and requests(emulator, "cancel") == 0
    )
    cli("cancel", waiting["id"])
    cli("delete", "--yes", first["id"])
    assert [j["id"] for j in cli.json("list")] == [waiting["id"]]


@pytest.fixture
def unknown_job(cli, emulator):
    """A job whose create reached the API but whose reply was lost (HTTP 500 after accepting)."""
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    result = cli("submit", "--json", "Research tea.", code=1)
    import json

    job = json.loads(result.stdout)
    assert job["status"] == "submit_unknown" and job["interaction_id"] is None
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={job['id']}"] == 1
    return job


def test_submit_unknown_says_what_happened_and_how_to_go_on(cli, emulator):
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    result = cli("submit", "Research tea.", code=1)
    job_id, status = result.stdout.split()
    assert status == "submit_unknown"
    assert "may have been created" in result.stderr and f"gjobs resubmit {job_id}" in result.stderr


def test_resubmit_warns_about_cost_and_no_sends_nothing(cli, emulator, unknown_job):
    result = cli("resubmit", unknown_job["id"], input="n\n", code=1)
    assert "may already exist" in result.stderr and "billed again" in result.stderr
    assert "not resubmitted" in result.stderr
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={unknown_job['id']}"] == 1
    assert cli.json("show", unknown_job["id"])["status"] == "submit_unknown"


def test_resubmit_yes_creates_exactly_one_more(cli, emulator, unknown_job, drive):
    result = cli("resubmit", "--yes", unknown_job["id"])
    assert "billed again" in result.stderr  # said even without asking
    job_id, status, *_ = result.stdout.split()
    assert job_id == unknown_job["id"] and status in ("queued", "in_progress")
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={job_id}"] == 2
    assert drive(job_id).status == "completed"
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={job_id}"] == 2


def test_a_create_that_times_out_is_submit_unknown_and_can_be_resubmitted(cli, emulator, home):
    """The other way to lose a create's reply: the API answers after our create timeout."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[api]\ncreate_timeout = 0.3\n")
    emulator.backend.faults.accept_then_delay("create", seconds=1.0, times=1)
    result = cli("submit", "Research tea.", code=1)
    job_id, status = result.stdout.split()
    assert status == "submit_unknown" and "timed out" in result.stderr
    cli("resubmit", job_id, input="y\n")
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={job_id}"] == 2


def test_cancel_a_submit_unknown_job_is_local_and_says_so(cli, emulator, unknown_job):
    result = cli("cancel", unknown_job["id"])
    assert "cancelled here only" in result.stderr and "may have reached the API" in result.stderr
    assert cli.json("show", unknown_job["id"])["status"] == "cancelled"
    assert requests(emulator, "cancel") == 0
