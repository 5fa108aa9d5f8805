"""`jobs follow`, `submit --follow/--wait`, `show --events`: a job live, from its journal."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "track"))

from stream_checks import ClockDriver, emulator_events  # noqa: E402

RESEARCH = "deep-research-preview-04-2026"


def test_follow_a_research_job_whose_stream_is_cut_twice(cli, emulator, clock):
    emulator.backend.faults.cut_stream_after(120, mode="text_503", times=2)
    job = cli.submit("--research", "How do tides work?")
    with ClockDriver(clock, step=1.0):
        live = cli("follow", job["id"])
    raw = cli("show", "--raw", job["id"]).stdout_bytes
    assert live.stdout_bytes == raw and raw  # the answer, whole, once: byte for byte
    assert "thinking" in live.stderr and re.search(
        r"searching: \S", live.stderr
    )  # with its queries
    assert "completed" in live.stderr and "tokens" in live.stderr
    stats = emulator.backend.stats()
    assert stats["faults"][0]["hits"] == 2 and stats["requests"]["stream"] >= 3
    interaction = cli.json("show", job["id"])["interaction_id"]
    lines = [json.loads(line) for line in cli("follow", "--json", job["id"]).stdout.splitlines()]
    expected = [json.loads(e) for e in emulator_events(emulator.backend, interaction)]
    assert [line["payload"] for line in lines] == expected  # none twice, none missing, in order
    assert [line["event_id"] for line in lines] == [e["event_id"] for e in expected]
    assert [line["type"] for line in lines] == [e["event_type"] for e in expected]
    # The text the follow printed came from the journal itself, not from the stored result.
    written = "".join(
        line["payload"]["delta"]["text"]
        for line in lines
        if line["type"] == "step.delta" and line["payload"]["delta"]["type"] == "text"
    )
    assert written.encode() == raw


def test_a_finished_job_replays_from_the_journal_without_an_api_call(cli, emulator, clock):
    job = cli.submit("what is a tide?")
    with ClockDriver(clock, step=1.0):
        first = cli("follow", job["id"])
    before = emulator.backend.stats()["requests"]
    again = cli("follow", job["id"])
    assert emulator.backend.stats()["requests"] == before
    assert again.stdout == first.stdout and again.stdout
    events = cli.json("show", "--events", job["id"])
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert (
        events[0]["type"] == "interaction.created" and events[-1]["type"] == "interaction.completed"
    )
    table = cli("show", "--events", job["id"]).stdout
    assert "interaction.created" in table and "step.delta" in table


def test_submit_follow_and_wait(cli, emulator, clock):
    with ClockDriver(clock, step=1.0):
        followed = cli("submit", "--follow", "Name a colour.")
        waited = cli("submit", "--wait", "--research", "Name a colour.")
    job_id = followed.stderr.split()[0]  # the id goes to stderr: stdout is the answer alone
    raw = cli("show", "--raw", job_id).stdout
    assert followed.stdout == raw and raw and "completed" in followed.stderr
    assert "thinking" in waited.stderr and "]" in waited.stderr  # elapsed stamps, thoughts
    assert "completed" in waited.stdout


def test_follow_refuses_bad_input(cli):
    assert "nope" in cli.fails("follow", "nope")
    assert "--follow" in cli.fails("submit", "--follow", "--wait", "hi", code=2)
