"""`jobs show`: Markdown output, thought summaries, usage, timings, the conversation, --json, --raw."""

from __future__ import annotations

import json

TRICKY = (
    "Quote «naïve» café — 日本語, emoji 🎉🧪, e\u0301 combining, zero\u200bwidth, tab\there, €100"
)


def test_show_renders_the_markdown_output_with_usage_and_timings(cli, drive):
    job = cli.submit("--research", "Research the history of tea.")
    drive(job["id"], step=30)
    detail = cli.json("show", job["id"])
    assert detail["output_text"].lstrip().startswith("#")  # the report is Markdown...
    heading = next(line for line in detail["output_text"].splitlines() if line.startswith("## "))
    out = cli("show", job["id"]).stdout
    assert heading[3:].strip() in out and heading not in out  # ...and shown rendered, not raw
    assert "status" in out and "completed" in out and "took" in out
    assert "deep-research-preview-04-2026" in out and job["interaction_id"] in out
    usage = detail["usage"]
    assert "usage (tokens)" in out and f"{usage['total_tokens']:,}" in out
    assert "thought tokens" in out and "tool use tokens" in out
    assert "thought summaries" not in out  # only on request


def test_thoughts_are_shown_on_request(cli, drive):
    job = cli.submit("--research", "Research the history of tea.")
    drive(job["id"], step=30)
    thoughts = cli.json("show", job["id"])["thoughts"]
    assert thoughts
    out = cli("show", "--thoughts", job["id"]).stdout
    assert "thought summaries" in out
    first_words = " ".join(thoughts[0].split()[:3]).lstrip("#* ")
    assert first_words.split()[0] in out


def test_show_of_each_turn_shows_the_whole_conversation(cli, drive):
    first = cli.submit("Name a colour.")
    second = cli.submit("--continue", first["id"], "Now name another.")
    for turn in (first, second):
        out = cli("show", turn["id"]).stdout
        assert "conversation" in out
        assert f"1. {first['id']}" in out and f"2. {second['id']}" in out
        assert f"→ {1 if turn is first else 2}. {turn['id']}" in out
    drive(first["id"])
    drive(second["id"])
    assert "2. " + second["id"] + " completed" in cli("show", first["id"]).stdout


def test_show_of_a_job_not_sent_yet(cli):
    first = cli.submit("Name a colour.")
    waiting = cli.submit("--continue", first["id"], "Now name another.")
    result = cli("show", waiting["id"])
    assert "(not created yet)" in result.stdout and "pending" in result.stdout


def test_show_json_adds_output_and_error(cli, emulator, drive):
    ok = cli.submit("Name a colour.")
    drive(ok["id"])
    emulator.backend.faults.force_outcome("failed", times=1)
    bad = cli.submit("Fail, please.")
    drive(bad["id"])
    good, failed = cli.json("show", ok["id"]), cli.json("show", bad["id"])
    for job in (good, failed):
        assert {
            "id",
            "interaction_id",
            "status",
            "created_at",
            "finished_at",
            "usage",
            "output_text",
            "error",
        } <= set(job)
    assert isinstance(good["output_text"], str) and good["output_text"] and good["error"] is None
    assert failed["status"] == "failed"
    assert isinstance(failed["error"], dict) and failed["error"]["message"]
    running = cli.json("show", cli.submit("still going")["id"])
    assert running["output_text"] is None and running["error"] is None


def test_show_raw_is_byte_exact_with_nothing_added(cli, drive):
    job = cli.submit(TRICKY)
    drive(job["id"])
    text = cli.json("show", job["id"])["output_text"]
    assert "日本語" in text and "🎉🧪" in text and "e\u0301" in text and "\u200b" in text
    result = cli("show", "--raw", job["id"])
    assert result.stdout_bytes == text.encode("utf-8")
    assert not result.stdout_bytes.endswith(b"\n")  # none added: `> file` keeps the text as is
    assert result.stderr == ""


def test_show_raw_of_a_job_that_did_not_complete_prints_what_there_is_and_fails(
    cli, emulator, drive
):
    emulator.backend.faults.force_outcome("incomplete", times=1)
    job = cli.submit("Write a long story.")
    drive(job["id"])
    text = cli.json("show", job["id"])["output_text"]
    result = cli("show", "--raw", job["id"], code=1)
    assert result.stdout_bytes == text.encode("utf-8")
    assert result.stderr.startswith("error: ") and "incomplete" in result.stderr


def test_show_never_prints_terminal_escapes_from_the_model(cli, drive):
    job = cli.submit("Say \x1b[2J\x1b]52;c;aGFja2Vk\x07 please")
    drive(job["id"])
    detail = cli.json("show", job["id"])
    assert "\x1b]52" in detail["request"]["input"]  # sent as given
    assert "\x1b[2J" in detail["output_text"]  # and echoed back by the model
    out = cli("show", job["id"]).stdout + cli("list").stdout
    assert "\x1b" not in out and "\x07" not in out


def test_show_finds_a_job_by_its_interaction_id(cli):
    job = cli.submit("x")
    assert json.loads(cli("show", "--json", job["interaction_id"]).stdout)["id"] == job["id"]
