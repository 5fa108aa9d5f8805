"""Issue 8, as a user meets it at the command line: what `jobs` says is what happened."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "999999999d"),
        ("--since", "99999999999999w"),
        ("--limit", "99999999999999999999"),
    ],
    ids=["since-days", "since-weeks", "limit"],
)
def test_list_with_an_absurd_span_or_limit_is_a_usage_error(cli, args):
    """Today: `error: unexpected OverflowError ...`, exit 1."""
    message = cli.fails("list", *args, code=2)
    assert "OverflowError" not in message and "unexpected" not in message


def test_show_of_a_submit_unknown_job_does_not_say_not_created(cli, emulator):
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    job = cli.json("submit", "Research tea.", code=1)
    out = " ".join(cli("show", job["id"]).stdout.split())
    assert "not created yet" not in out
    assert "may have run" in out and f"adopt {job['id']}" in out


def test_cancel_whose_reply_was_lost_reports_the_status_the_server_shows(cli, emulator):
    """Today: `error: cancel ... HTTP 500`, exit 1, although the job ended cancelled."""
    emulator.backend.faults.force_outcome("in_progress")
    job = cli.submit("A long one.")
    emulator.backend.faults.accept_then_fail("cancel", 500, times=1)
    result = cli("cancel", job["id"])
    assert result.stdout.split() == [job["id"], "cancelled"]
    assert "error" not in result.stderr
    cli("poll", "--once")
    assert emulator.backend.stats()["requests"]["cancel"] == 1


def test_a_second_continue_of_the_same_turn_is_refused_with_a_hint(
    cli, emulator, drive, store_rows
):
    """Today: both are sent with the same previous_interaction_id and the conversation forks."""
    first = cli.submit("Name a colour.")
    second = cli.submit("--continue", first["id"], "Now name another.")
    before = store_rows()
    message = cli.fails("submit", "--continue", first["id"], "And a third.", code=2)
    assert f"already continues in {second['id']}" in message
    assert f"--continue {second['id']}" in message and "--branch" in message
    assert store_rows() == before
    drive(first["id"])
    drive(second["id"])
    # the hint names the latest turn of the line, however long
    third = cli.submit("--continue", second["id"], "And a third.")
    message = cli.fails("submit", "--continue", first["id"], "Again.", code=2)
    assert f"latest turn: {third['id']}" in message and f"--continue {third['id']}" in message


def test_branch_continues_a_turn_that_has_a_successor_on_request(cli, emulator, drive):
    first = cli.submit("Name a colour.")
    drive(first["id"])
    second = cli.submit("--continue", first["id"], "Now name another.")
    branch = cli.submit("--continue", first["id"], "--branch", "Or a shape.")
    drive(second["id"])
    drive(branch["id"])
    shown = cli.json("show", branch["id"])
    assert shown["previous_interaction_id"] == first["interaction_id"]
    assert shown["status"] == "completed"
    assert cli.fails("submit", "--branch", "No parent.", code=2).startswith("--branch only goes")


def test_a_failed_successor_does_not_block_continuing_again(cli, emulator, drive):
    first = cli.submit("Name a colour.")
    drive(first["id"])
    emulator.backend.faults.force_outcome("failed", times=1)
    failed = cli.submit("--continue", first["id"], "Now name another.")
    assert drive(failed["id"]).status == "failed"
    again = cli.submit("--continue", first["id"], "Now name another, please.")
    assert again["parent_job_id"] == first["id"]


def _worker_row(worker_id, *, pid, beat_ago, clock, hostname=None):
    import socket
    from datetime import timedelta

    from jobs.models import Worker

    now = clock.now()
    return Worker(
        id=worker_id,
        hostname=hostname or socket.gethostname(),
        pid=pid,
        started_at=now - timedelta(minutes=30),
        heartbeat_at=now - timedelta(seconds=beat_ago),
    )


def test_doctor_does_not_count_killed_workers_as_alive(cli, service, clock):
    """Today: SIGKILLed workers (no stopped_at, heartbeat under a minute old) are `alive`."""
    import os
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    cli("doctor")  # creates the store
    rows = [
        _worker_row("killed-here", pid=dead_pid, beat_ago=5, clock=clock),
        _worker_row("silent-elsewhere", pid=1, beat_ago=45, clock=clock, hostname="other-host"),
        _worker_row("alive-here", pid=os.getpid(), beat_ago=1, clock=clock),
    ]
    for row in rows:
        service.store.heartbeat(row)
    checks = {c["name"]: c for c in cli.json("doctor")}
    assert checks["workers"]["detail"].startswith("1 alive: alive-here"), checks["workers"]
    assert "killed-here" not in checks["workers"]["detail"]
    assert "silent-elsewhere" not in checks["workers"]["detail"]
    assert "2 ended without stopping" in checks["dead workers"]["detail"]


def test_doctor_says_what_its_integrity_check_checked(cli):
    detail = {c["name"]: c for c in cli.json("doctor")}["integrity"]["detail"]
    assert detail.startswith("ok (checked: PRAGMA integrity_check")
