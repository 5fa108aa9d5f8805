"""`jobs submit`: the prompt's three sources, labels, system, model/agent, --continue, --wait, --json."""

from __future__ import annotations

import json

import pytest

API_STATUSES = {
    "queued",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "incomplete",
    "budget_exceeded",
    "requires_action",
}
OUR_STATUSES = {"pending", "submitting", "expired", "submit_unknown", "unknown"}


def sent(cli, job_id: str) -> dict:
    """The create body as recorded (and sent) for a job."""
    return cli.json("show", job_id)["request"]


def test_submit_records_creates_once_and_prints_the_interaction_id(cli, emulator):
    result = cli("submit", "Why is the sky blue?")
    job_id, status, *rest = result.stdout.split()
    assert status in ("queued", "in_progress")
    interaction_id = rest[-1]
    assert interaction_id.startswith("int_")
    assert "interaction" in result.stdout
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 1
    assert stats["creates_by_label"] == {f"jobs-id={job_id}": 1}
    shown = cli.json("show", job_id)
    assert shown["interaction_id"] == interaction_id
    assert [e["kind"] for e in shown["events"]][:3] == ["recorded", "submitting", "submitted"]
    # A new user's next question ("why is it still queued?") is answered up front.
    assert "no worker is running" in result.stderr and "jobs worker" in result.stderr


def test_submit_json_is_the_contract_for_scripts(cli):
    job = cli.submit("Explain tides in two sentences.")
    assert isinstance(job["id"], str) and job["id"]
    assert isinstance(job["interaction_id"], str) and job["interaction_id"].startswith("int_")
    assert job["status"] in ("queued", "in_progress")
    assert job["model"] == "gemini-3-flash-preview" and "agent" not in job


def test_submit_json_prints_nothing_but_json_on_stdout(cli):
    result = cli("submit", "--json", "hello")
    json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert "no worker is running" not in result.stdout


def test_the_prompt_comes_from_stdin_with_a_dash(cli):
    job = cli.submit("-", input="a prompt\nfrom stdin\n")
    assert sent(cli, job["id"])["input"] == "a prompt\nfrom stdin\n"


def test_the_prompt_comes_from_a_file(cli, tmp_path):
    path = tmp_path / "prompt.md"
    path.write_text("Résumé des marées — en deux phrases.\n", encoding="utf-8")
    job = cli.submit("--file", str(path))
    assert sent(cli, job["id"])["input"] == "Résumé des marées — en deux phrases.\n"
    assert cli.json("show", job["id"])["prompt"] == "Résumé des marées — en deux phrases."


def test_labels_and_system_instruction_are_sent_and_recorded(cli, emulator):
    job = cli.submit(
        "-l",
        "team=a",
        "--label",
        "run=nightly-2",
        "--system",
        "Answer in French.",
        "Name a colour.",
    )
    body = sent(cli, job["id"])
    assert body["labels"] == {"team": "a", "run": "nightly-2", "jobs-id": job["id"]}
    assert body["system_instruction"] == "Answer in French."
    assert cli.json("show", job["id"])["labels"] == {"team": "a", "run": "nightly-2"}
    remote = emulator.backend.get(job["interaction_id"])
    assert remote["labels"]["team"] == "a"


def test_model_agent_and_research_choose_what_runs(cli):
    model_job = cli.submit("-m", "gemini-2.5-pro", "x")
    assert (
        model_job["model"] == "gemini-2.5-pro"
        and sent(cli, model_job["id"])["model"] == "gemini-2.5-pro"
    )
    agent_job = cli.submit("--agent", "deep-research-preview-04-2026", "y")
    assert agent_job["agent"] == "deep-research-preview-04-2026" and "model" not in agent_job
    body = sent(cli, agent_job["id"])
    assert "model" not in body and body["agent_config"]["type"] == "deep-research"
    research = cli.submit("--research", "z")
    assert research["agent"] == "deep-research-preview-04-2026"


def test_continue_waits_for_an_unfinished_job_then_is_submitted(cli, emulator, drive):
    first = cli.submit("Name a colour.")
    result = cli("submit", "--continue", first["id"], "Now name another.")
    second_id, status, *_ = result.stdout.split()
    assert status == "pending" and f"after {first['id']}" in result.stdout
    assert f"waits for {first['id']}" in result.stderr
    second = cli.json("show", second_id)
    assert second["interaction_id"] is None and second["parent_job_id"] == first["id"]
    assert emulator.backend.stats()["requests"]["create"] == 1  # nothing sent for the second yet

    drive(first["id"])
    done = drive(second_id)
    assert done.status == "completed"
    shown = cli.json("show", second_id)
    assert shown["previous_interaction_id"] == first["interaction_id"]
    assert shown["request"]["previous_interaction_id"] == first["interaction_id"]
    assert emulator.backend.stats()["creates_by_label"][f"jobs-id={second_id}"] == 1
    assert "turn 2" in shown["output_text"]  # the emulator saw the conversation


def test_continue_a_finished_job_is_submitted_at_once(cli, drive):
    first = cli.submit("Name a colour.")
    drive(first["id"])
    second = cli.submit("--continue", first["id"], "Now name another.")
    assert second["interaction_id"] and second["status"] in ("queued", "in_progress")
    assert cli.json("show", second["id"])["previous_interaction_id"] == first["interaction_id"]


def test_wait_follows_the_job_and_exits_zero_when_completed(cli, clock):
    result = cli("submit", "--wait", "Explain tides in two sentences.")
    assert "completed" in result.stdout
    assert "Here is my answer" in result.stdout  # the output, rendered
    assert "total tokens" in result.stdout
    # progress went to stderr, one line per status seen
    assert "queued" in result.stderr or "in_progress" in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("completed")
    assert clock.monotonic() > 0  # time passed on the injected clock, not the wall clock


def test_wait_follows_a_continued_job_through_its_predecessor(cli):
    first = cli.submit("Name a colour.")
    result = cli("submit", "--wait", "--json", "--continue", first["id"], "Now name another.")
    job = json.loads(result.stdout)
    assert job["status"] == "completed" and job["interaction_id"]


@pytest.mark.parametrize("outcome", ["failed", "cancelled", "incomplete"])
def test_wait_exits_non_zero_unless_completed(cli, emulator, outcome):
    emulator.backend.faults.force_outcome(outcome, times=1)
    result = cli("submit", "--wait", "Explain tides.", code=1)
    assert outcome in result.stdout
    json_run = cli("submit", "--wait", "--json", "Explain tides.")  # the rule fired once: completes
    assert json.loads(json_run.stdout)["status"] == "completed"


def test_wait_json_reports_the_final_status_and_exit_code(cli, emulator):
    emulator.backend.faults.force_outcome("failed", times=1)
    result = cli("submit", "--wait", "--json", "Explain tides.", code=1)
    job = json.loads(result.stdout)
    assert job["status"] == "failed" and set(job) >= {"id", "interaction_id", "status"}


def test_a_rejected_request_fails_the_job_and_the_exit_code(cli, emulator):
    emulator.backend.faults.fail("create", 400, times=1)
    result = cli("submit", "x", code=1)
    assert "failed" in result.stdout and "refused" in result.stderr
    job = cli.json("list")[0]
    assert job["status"] == "failed" and job["interaction_id"] is None


def test_a_busy_api_leaves_the_job_pending_for_the_worker(cli, emulator, drive):
    emulator.backend.faults.fail("create", 429, times=100, retry_after=600)
    result = cli("submit", "x")
    job_id, status, *_ = result.stdout.split()
    assert status == "pending" and "not sent yet" in result.stderr
    emulator.backend.faults.clear()
    assert drive(job_id, step=60).status == "completed"


def test_statuses_in_json_are_lower_case_words_of_the_contract(cli, emulator, drive):
    emulator.backend.faults.force_outcome("budget_exceeded", times=1)
    a = cli.submit("a")
    cli.submit("--continue", a["id"], "b")
    drive(a["id"])
    cli("poll", "--once")
    statuses = {job["status"] for job in cli.json("list")}
    assert statuses == {"budget_exceeded", "failed"}  # b can never be sent: its turn failed
    assert statuses <= API_STATUSES | OUR_STATUSES


class CtrlCOnSleep:
    """The test's clock, except that waiting is interrupted, as by Ctrl-C."""

    def __init__(self, clock) -> None:
        self.now, self.monotonic = clock.now, clock.monotonic

    def sleep(self, seconds: float) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_while_waiting_stops_following_not_the_job(cli, clock, emulator):
    cli.clock = CtrlCOnSleep(clock)
    result = cli("submit", "--wait", "Explain tides.", code=130)
    job_id = result.stdout.split()[0]
    assert f"stopped following {job_id}" in result.stderr and "Traceback" not in result.stderr
    assert emulator.backend.stats()["requests"].get("cancel", 0) == 0
    cli.clock = clock
    assert cli.json("show", job_id)["status"] in ("queued", "in_progress")
