"""A `batch submit` SIGKILLed in the middle of sending: `batch resume` sends the rest, the line
whose create was in flight becomes submit_unknown (never resent), and every line is created once."""

from __future__ import annotations

import json

import pytest
from reliability_checks import creates_by_job

pytestmark = pytest.mark.slow

SIGKILLED = -9


def test_batch_killed_mid_create_resumes_without_paying_twice(cli, live_emulator, survivor):
    batch_file = cli.home / "night.jsonl"
    batch_file.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(12)))
    done = cli.run(
        "batch", "submit", str(batch_file), "--concurrency", "1", crash_at="submit.after_create"
    )
    assert done.returncode == SIGKILLED, done.stderr
    assert live_emulator.backend.stats()["creates"] == 1  # the first line's create, id not stored

    listed = json.loads(cli.run("batch", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["counts"] == {"pending": 11, "submitting": 1}
    resumed = cli.run("batch", "resume", listed[0]["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["submit"]["sent"] == 11

    # Re-running the same file sends nothing either.
    again = cli.run("batch", "submit", str(batch_file), "--json")
    assert json.loads(again.stdout)["recorded"] == {"added": 0, "already": 12}

    service = survivor(cli)  # past the dead submitter's lease
    service.run_pass()
    counts = service.batches.summary(listed[0]["id"]).counts.by_status
    assert counts.get("submit_unknown") == 1 and counts.get("pending", 0) == 0
    stats = live_emulator.backend.stats()
    assert stats["creates"] == 12 and set(creates_by_job(stats).values()) == {1}


def test_a_batch_killed_after_claiming_a_group_sends_none_of_it_twice(cli, live_emulator, survivor):
    """Four threads claim four lines in one transaction; the process dies before any create. The
    claimed lines were never sent: they become submit_unknown (never resent), the rest resume."""
    batch_file = cli.home / "night.jsonl"
    batch_file.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(12)))
    done = cli.run(
        "batch", "submit", str(batch_file), "--concurrency", "4", crash_at="submit.group_claimed"
    )
    assert done.returncode == SIGKILLED, done.stderr
    assert live_emulator.backend.stats()["requests"]["create"] == 0

    listed = json.loads(cli.run("batch", "list", "--json").stdout)
    assert listed[0]["counts"] == {"pending": 8, "submitting": 4}  # one group claimed, durably
    resumed = cli.run("batch", "resume", listed[0]["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["submit"]["sent"] == 8

    service = survivor(cli)
    service.run_pass()
    counts = service.batches.summary(listed[0]["id"]).counts.by_status
    assert counts.get("submit_unknown") == 4 and counts.get("pending", 0) == 0
    stats = live_emulator.backend.stats()
    assert stats["creates"] == 8 and set(creates_by_job(stats).values()) == {1}


def test_a_batch_killed_with_creates_of_a_group_in_flight_sends_no_line_twice(
    cli, live_emulator, survivor
):
    batch_file = cli.home / "night.jsonl"
    batch_file.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(16)))
    done = cli.run(
        "batch", "submit", str(batch_file), "--concurrency", "4", crash_at="submit.after_create"
    )
    assert done.returncode == SIGKILLED, done.stderr
    created_before = live_emulator.backend.stats()["creates"]
    listed = json.loads(cli.run("batch", "list", "--json").stdout)
    in_flight = listed[0]["counts"]["submitting"]
    assert 1 <= created_before <= in_flight <= 4  # only claimed lines can have been sent

    resumed = cli.run("batch", "resume", listed[0]["id"], "--json")
    assert json.loads(resumed.stdout)["submit"]["sent"] == 16 - in_flight
    service = survivor(cli)
    service.run_pass()
    counts = service.batches.summary(listed[0]["id"]).counts.by_status
    assert counts.get("submit_unknown") == in_flight and counts.get("pending", 0) == 0
    stats = live_emulator.backend.stats()
    assert stats["creates"] == 16 - in_flight + created_before
    assert set(creates_by_job(stats).values()) == {1}
