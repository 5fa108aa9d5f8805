"""What a newcomer meets in the first ten minutes (issue 7): each defect found then, and what a
person expects of a CLI like this (ids by prefix and @last, stdin as material, help, --json...)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.models import Job

BIN = Path(sys.executable).parent


def sent(cli, job: dict) -> dict:
    """The create body as recorded (and sent) for a job."""
    return cli.json("show", job["id"])["request"]


# -- defects ---------------------------------------------------------------------------------------


def test_invalid_utf8_on_stdin_is_one_clear_line(cli, store_rows):
    before = store_rows()
    message = cli.fails("submit", "-", input=b"a\xff\xfeb", code=2)
    assert message.startswith("cannot read stdin: it is not UTF-8 text")
    assert store_rows() == before


def test_an_unusable_base_url_records_nothing(cli, monkeypatch, store_rows, emulator):
    cli("list")  # the store exists: what matters is that no job is added to it
    before = store_rows()
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "not-a-url")
    message = cli.fails("submit", "hi", code=2)
    assert "'not-a-url' (env GOOGLE_GEMINI_BASE_URL) is not an http(s) URL" in message
    assert store_rows() == before
    assert emulator.backend.stats()["requests"].get("create", 0) == 0


def test_delete_without_a_terminal_or_yes_is_one_error_line(cli, drive):
    job = cli.submit("Name a colour.")
    drive(job["id"])
    message = cli.fails("delete", job["id"], code=1)  # CliRunner: stdin is empty, not a TTY
    assert message == "not deleted: there is no terminal to ask on; add --yes to confirm"
    assert cli.json("show", job["id"])["id"] == job["id"]


@pytest.mark.slow
def test_the_emulator_on_a_taken_port_fails_at_once_with_an_error_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(BIN / "gjobs"), "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,  # "at once": it never starts serving, so it cannot hang
        )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: address already in use; "
        "pick another port: --port 8766, or --port 0 for any free one"
    ]


# -- ids ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_jobs_sharing_a_prefix(service, clock):
    now = clock.now()
    for job_id, age in (("abc234", 2), ("abc567", 1)):
        service.store.insert_job(
            Job(id=job_id, created_at=now - timedelta(seconds=age), prompt_excerpt=job_id),
            {},
            now,
        )


def test_a_unique_prefix_names_a_job_everywhere(cli, two_jobs_sharing_a_prefix):
    assert cli.json("show", "abc5")["id"] == "abc567"
    assert cli.json("cancel", "abc2")["status"] == "cancelled"
    assert cli.json("delete", "--yes", "abc2")["id"] == "abc234"


def test_an_ambiguous_prefix_lists_the_candidates(cli, two_jobs_sharing_a_prefix):
    message = cli.fails("show", "abc", code=2)
    assert message == "'abc' fits several jobs: abc567, abc234; give more of the id"


def test_at_last_names_the_newest_job(cli, clock):
    assert cli.fails("show", "@last") == "no jobs yet, so no @last (see `gjobs submit --help`)"
    cli.submit("First.")
    clock.advance(1)
    newest = cli.submit("Second.")
    clock.advance(1)
    assert cli.json("show", "@last")["id"] == newest["id"]
    follow_up = cli.submit("--continue", "@last", "Third.")
    assert follow_up["parent_job_id"] == newest["id"]


# -- submit ----------------------------------------------------------------------------------------


def test_piped_stdin_is_the_material_and_the_argument_the_instruction(cli):
    job = cli.submit("Summarise this", input="Queues hold work.\nWorkers take it.\n")
    assert sent(cli, job)["input"] == "Summarise this\n\nQueues hold work.\nWorkers take it.\n"
    alone = cli.submit("-", input="Only this.\n")
    assert sent(cli, alone)["input"] == "Only this.\n"
    plain = cli.submit("No stdin here.")  # an empty stdin adds nothing
    assert sent(cli, plain)["input"] == "No stdin here."


def test_submit_quiet_prints_only_the_id(cli):
    result = cli("submit", "-q", "Name a colour.")
    job_id = result.stdout.strip()
    assert result.stdout == f"{job_id}\n" and cli.json("show", job_id)["id"] == job_id
    assert "error" not in result.stderr


# -- show ------------------------------------------------------------------------------------------


def test_show_prints_the_prompt_and_the_system_instruction(cli):
    job = cli.submit("-s", "Answer in one word.", "Name a colour.")
    out = cli("show", job["id"]).stdout
    assert "system instruction" in out and "Answer in one word." in out
    assert "prompt" in out and "Name a colour." in out


def test_show_cuts_a_long_prompt_and_says_where_the_rest_is(cli):
    job = cli.submit("word " * 1000)
    out = " ".join(cli("show", job["id"]).stdout.split())
    assert f"(3,000 more characters: `gjobs show {job['id']} --json`)" in out


# -- help and JSON ---------------------------------------------------------------------------------


def test_top_level_help_shows_each_summary_whole(cli):
    from jobs.cli import cli as group

    out = " ".join(cli("--help").stdout.split())
    for name, command in group.commands.items():
        summary = " ".join(command.get_short_help_str(limit=1000).split())
        assert f"{name} {summary}" in out, name
    assert "..." not in out.split("Commands:")[1]


@pytest.mark.parametrize("command", ["submit", "list", "show", "cancel", "delete", "worker"])
def test_help_pages_carry_examples(cli, command):
    out = cli(command, "--help").stdout
    assert "Example" in out and f"gjobs {command}" in out


def test_delete_resubmit_and_db_upgrade_print_json(cli, emulator, drive):
    upgraded = cli.json("db", "upgrade")
    assert set(upgraded) == {"store", "applied", "revision"}
    job = cli.submit("Name a colour.")
    drive(job["id"])
    assert cli.json("delete", "--yes", job["id"]) == {
        "id": job["id"],
        "deleted": True,
        "remote": True,
        "status": "completed",
    }
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    unknown = json.loads(cli("submit", "--json", "Research tea.", code=1).stdout)
    again = json.loads(cli("resubmit", "--yes", "--json", unknown["id"]).stdout)
    assert again["id"] == unknown["id"] and again["interaction_id"]


# -- list ------------------------------------------------------------------------------------------


def test_list_at_80_columns_keeps_the_prompt_readable_and_pads_nothing(cli, monkeypatch):
    cli.submit("--research", "How did background job queues evolve?")
    cli.submit("Explain in two sentences why the sky is blue.")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("list").stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert all(line == line.rstrip() for line in lines)  # piped: no padding to the width
    assert "Explain in two sentences wh" in out  # at least 27 characters of the prompt
    assert "How did background job queu" in out
    assert "deep-research " in out and "gemini-3-flash " in out  # names without their tails


# -- completion and the shell integration ----------------------------------------------------------


def _complete(cli, words: str, index: int) -> list[str]:
    result = subprocess.run(
        [str(BIN / "gjobs")],
        env={
            **os.environ,
            "_GJOBS_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(index),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_completion_offers_commands_options_job_ids_and_statuses(cli):
    job = cli.submit("Name a colour.")
    assert "shell-init" in _complete(cli, "gjobs sh", 1)
    assert "--thoughts" in _complete(cli, "gjobs show --th", 2)
    assert _complete(cli, f"gjobs show {job['id'][:3]}", 2) == [job["id"]]
    assert "@last" in _complete(cli, "gjobs show ", 2)
    assert _complete(cli, "gjobs list --status queued,in_", 3) == ["queued,in_progress"]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
def test_the_bash_integration_leaves_job_control_to_the_builtin(tmp_path):
    script = f"""
export PATH={BIN}:$PATH
eval "$(gjobs shell-init bash)"
sleep 60 &
echo "-- jobs"; jobs
echo "-- jobs -p"; jobs -p
echo "-- jobs %1"; jobs %1
echo "-- jobs --version"; jobs --version
echo "-- complete"; complete -p jobs
kill %1
"""
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JOBS_HOME": str(tmp_path)},
    )
    out = result.stdout
    sections = dict(part.split("\n", 1) for part in out.split("-- ")[1:])
    assert "Running" in sections["jobs"] and "sleep 60" in sections["jobs"]
    assert sections["jobs -p"].strip().isdigit()
    assert "sleep 60" in sections["jobs %1"]
    assert sections["jobs --version"].startswith("gjobs, version")
    assert "_gjobs_function_completion" in sections["complete"]
    assert result.stderr == ""


def test_python_dash_m_jobs_is_the_same_program():
    result = subprocess.run(
        [sys.executable, "-m", "jobs", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.startswith("gjobs, version")
    assert (BIN / "gjobs").exists() and (BIN / "jobs").exists()


# -- the pager -------------------------------------------------------------------------------------


def _show_on_a_terminal(job_id: str, tmp_path: Path, *extra: str) -> tuple[bytes, Path]:
    """`gjobs show` with a pseudo-terminal as stdin and stdout, and a PAGER that writes a file."""
    import pty
    import select
    import time

    paged = tmp_path / "paged.txt"
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "10", "TERM": "xterm", "PAGER": f"cat > {paged}"}
    env.pop("LESS", None)
    proc = subprocess.Popen(
        [str(BIN / "gjobs"), "show", job_id, *extra], env=env, stdin=slave, stdout=slave
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    proc.wait(timeout=10)
    os.close(master)
    assert proc.returncode == 0
    return seen, paged


@pytest.mark.slow
def test_long_show_output_is_paged_on_a_terminal_only(cli, tmp_path):
    job = cli.submit("word " * 300)  # its prompt alone is longer than a 10-line terminal
    seen, paged = _show_on_a_terminal(job["id"], tmp_path)
    assert paged.exists() and "word word" in paged.read_text()
    paged.unlink()
    seen, paged = _show_on_a_terminal(job["id"], tmp_path, "--no-pager")
    assert not paged.exists() and b"word word" in seen
    piped = subprocess.run(
        [str(BIN / "gjobs"), "show", job["id"]],
        env={**os.environ, "PAGER": f"cat > {paged}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and "word word" in piped.stdout and not paged.exists()


@pytest.mark.slow
def test_a_quiet_worker_says_it_is_alive_and_what_it_waits_on(home, monkeypatch, tmp_path):
    import signal

    from click.testing import CliRunner
    from waiting import wait_for

    from jobs.cli import cli as group
    from jobs.emulator import EmulatorServer

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[worker]\ntick = 0.3\nalive_every = 1.0\n")
    with EmulatorServer(speed=1) as emulator:  # a research run takes minutes: a quiet stretch
        monkeypatch.setenv("GEMINI_API_KEY", "test-key")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
        submitted = CliRunner().invoke(group, ["submit", "--research", "Research tea."])
        assert submitted.exit_code == 0, submitted.output
        log = tmp_path / "worker.err"
        with open(log, "w") as sink:
            proc = subprocess.Popen(
                [str(BIN / "gjobs"), "worker"], env=dict(os.environ), stderr=sink, text=True
            )
        try:
            wait_for(
                lambda: "alive: waiting on 1 in_progress" in log.read_text(),
                timeout=120,
                what="the worker's alive line",
            )
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert proc.returncode == 0 and text.strip().endswith("worker stopped")
    quiet = subprocess.run(
        [str(BIN / "gjobs"), "worker", "-q", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "Print nothing but errors." in quiet.stdout


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("zsh"), reason="needs zsh")
def test_the_zsh_integration_leaves_job_control_to_the_builtin(tmp_path):
    script = f"""
export PATH={BIN}:$PATH
autoload -Uz compinit && compinit -u -d {tmp_path}/zcompdump
eval "$(gjobs shell-init zsh)"
sleep 60 &
echo "-- jobs"; jobs
echo "-- jobs %1"; jobs %1
echo "-- jobs --version"; jobs --version
kill %1
"""
    result = subprocess.run(
        ["zsh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JOBS_HOME": str(tmp_path)},
    )
    sections = dict(part.split("\n", 1) for part in result.stdout.split("-- ")[1:])
    assert "running" in sections["jobs"] and "sleep 60" in sections["jobs"]
    assert "sleep 60" in sections["jobs %1"]
    assert sections["jobs --version"].startswith("gjobs, version")
    assert result.stderr == ""
