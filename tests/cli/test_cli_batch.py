"""`jobs batch ...` and `jobs schedule ...` as a user runs them: bad files refused whole with every
bad line named, nothing sent twice, exit codes a script can use, --json everywhere."""

from __future__ import annotations

import json

import pytest


def write_jsonl(path, items):
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items))
    return path


@pytest.fixture
def night(tmp_path):
    return write_jsonl(
        tmp_path / "night.jsonl",
        [{"prompt": f"Summarise item {i}.", "key": f"item-{i}"} for i in range(1, 21)],
    )


def test_a_file_with_bad_lines_is_refused_whole(cli, emulator, tmp_path, store_rows):
    items = [{"prompt": f"p{i}"} for i in range(1, 11)]
    items[3] = {"prompt": "p4", "model": 5}
    items[7] = '{"prompt": "p8", "colour": "red"'
    path = write_jsonl(tmp_path / "bad.jsonl", items)
    before = store_rows()
    result = cli("batch", "submit", str(path), code=2)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path} line 4: 'model' must be a string, got int",
        f"error: {path} line 8: not valid JSON (Expecting ',' delimiter at column 33)",
        f"error: {path}: 2 bad lines; nothing recorded or sent",
    ]
    assert store_rows() == before
    assert emulator.backend.stats()["requests"]["create"] == 0


def test_submitting_the_same_file_twice_sends_each_line_once(cli, emulator, night):
    first = cli.json("batch", "submit", str(night))
    assert first["recorded"] == {"added": 20, "already": 0} and first["submit"]["sent"] == 20
    second = cli.json("batch", "submit", str(night))
    assert second["id"] == first["id"]
    assert second["recorded"] == {"added": 0, "already": 20} and second["submit"]["sent"] == 0
    assert emulator.backend.stats()["creates"] == 20
    plain = cli("batch", "submit", str(night))  # not a terminal: one line, for cron's mail
    assert plain.stderr == ""
    [line] = plain.stdout.splitlines()
    assert line.startswith(f"batch {first['id']} ") and "0/20 completed" in line
    assert line.endswith("(0 new, 20 already recorded; sent 0, refused or unknown 0)")


def test_wait_follows_to_the_end_and_exit_codes_say_how_it_went(cli, emulator, tmp_path):
    ok = write_jsonl(tmp_path / "ok.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    done = cli.json("batch", "submit", str(ok), "--wait")
    assert done["all_completed"] and done["completed"] == 2 and done["total_tokens"] > 0
    emulator.backend.faults.force_outcome("failed", label="want=fail")
    mixed = write_jsonl(
        tmp_path / "mixed.jsonl", [{"prompt": "a"}, {"prompt": "b", "labels": {"want": "fail"}}]
    )
    result = cli("batch", "submit", str(mixed), "--wait", code=1)
    assert "1/2 completed" in result.stdout and "1 not completed" in result.stdout
    assert "line 2" in result.stderr and "failed" in result.stderr


def test_list_show_list_batch_and_stdin(cli, emulator, night):
    batch = cli.json("batch", "submit", str(night), "--detach")
    assert batch["submit"]["sent"] == 0 and batch["counts"] == {"pending": 20}
    assert emulator.backend.stats()["requests"]["create"] == 0
    listed = cli.json("batch", "list")
    assert [b["id"] for b in listed] == [batch["id"]]
    jobs = cli.json("list", "--batch", batch["id"], "-n", "5")
    assert [j["prompt"] for j in jobs] == [f"Summarise item {i}." for i in range(1, 6)]
    shown = cli.json("show", jobs[0]["id"])
    assert shown["batch"] == {"id": batch["id"], "line": 1, "line_key": "key:item-1"}
    resumed = cli.json("batch", "resume", batch["id"])
    assert resumed["submit"]["sent"] == 20
    from_stdin = cli.json("batch", "submit", "-", input="one\ntwo\n")
    assert from_stdin["name"].startswith("stdin-") and from_stdin["line_count"] == 2
    text = cli("batch", "show", batch["id"])
    assert "by status:" in text.stdout and "20 " in text.stdout


def test_cancel_and_retry_from_the_cli(cli, emulator, night):
    batch = cli.json("batch", "submit", str(night), "--detach")
    cancelled = cli.json("batch", "cancel", batch["id"])
    assert cancelled["counts"] == {"cancelled": 20} and cancelled["not_completed"] == 20
    retried = cli.json("batch", "retry", batch["id"], "--wait")
    assert retried["all_completed"] and emulator.backend.stats()["creates"] == 20


def test_bad_inputs_are_one_error_line(cli, emulator, tmp_path, night):
    assert cli.fails("batch", "submit", str(tmp_path / "nope.jsonl"), code=2).endswith(
        "does not exist"
    )
    assert "no prompts" in cli.fails("batch", "submit", "-", input="\n\n", code=2)
    assert "--detach or --wait" in cli.fails("batch", "submit", str(night), "--detach", "--wait")
    assert "no batch" in cli.fails("batch", "show", "zzzzzz", code=1)
    assert "bad cron expression" in cli.fails(
        "schedule", "add", "n", "--cron", "99 * * * *", "--file", str(night), code=2
    )
    assert "unknown time zone" in cli.fails(
        "schedule", "add", "n", "--cron", "0 2 * * *", "--file", str(night), "--tz", "X/Y"
    )
    assert "does not exist" in cli.fails(
        "schedule", "add", "n", "--cron", "0 2 * * *", "--file", str(tmp_path / "missing")
    )
    assert "no schedule" in cli.fails("schedule", "history", "nope", code=1)
    assert cli.json("schedule", "list") == []


def test_schedule_add_list_run_now_history(cli, emulator, night):
    added = cli.json(
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 2 * * *",
        "--file",
        str(night),
        "--tz",
        "Europe/Berlin",
    )
    assert added["next_fire"].endswith("+02:00") and "T02:00:00" in added["next_fire"]
    assert "a schedule named 'nightly' exists" in cli.fails(
        "schedule", "add", "nightly", "--cron", "0 2 * * *", "--file", str(night)
    )
    fired = cli.json("schedule", "run-now", "nightly")
    assert fired["state"] == "fired" and fired["submit"]["sent"] == 20
    history = cli.json("schedule", "history", "nightly")
    assert [h["state"] for h in history] == ["fired"] and history[0]["batch_id"] == fired[
        "batch_id"
    ]
    cli("schedule", "pause", "nightly")
    assert cli.json("schedule", "show", "nightly")["paused"] is True
    cli("schedule", "remove", "nightly")
    assert cli.json("schedule", "list") == []


def test_submit_notify_runs_the_command_with_the_job(cli, emulator, tmp_path):
    out = tmp_path / "notified.json"
    job = cli.json("submit", "hello", "--notify", f"cat > {out}", "--wait")
    assert json.loads(out.read_text())["job"]["id"] == job["id"]
    shown = cli.json("show", job["id"])
    assert shown["notification"]["state"] == "sent"
    assert "notify sent" in cli("show", job["id"]).stdout
