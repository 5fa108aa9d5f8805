"""Bad input: one `error:` line on stderr, a non-zero exit, no traceback, and the store unchanged."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def populated(cli, store_rows, emulator):
    """A store with a running, labelled job; returns a function that checks nothing changed since."""
    running = cli.submit("-l", "team=a", "still running")
    before = store_rows()
    assert before["jobs"] == 1 and before["job_labels"] == 1
    creates = emulator.backend.stats()["requests"].get("create", 0)

    def unchanged() -> None:
        assert store_rows() == before
        assert emulator.backend.stats()["requests"].get("create", 0) == creates

    unchanged.running = running
    return unchanged


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["submit"], None, "missing prompt"),
        (["submit", "-"], "   \n", "the prompt is empty"),
        (["submit", ""], None, "the prompt is empty"),
        (["submit", "--file", "/no/such/prompt.txt"], None, "cannot read /no/such/prompt.txt"),
        (["submit", "--file", "{tmp}/p.txt", "and an argument"], None, "not both"),
        (
            ["submit", "-m", "gemini-3-flash-preview", "-a", "deep-research-preview-04-2026", "x"],
            None,
            "either --model or --agent",
        ),
        (["submit", "--research", "-m", "m", "x"], None, "--research"),
        (["submit", "-l", "team", "x"], None, "bad label 'team': use key=value"),
        (["submit", "-l", "Team=a", "x"], None, "bad label 'Team=a'"),
        (["submit", "-l", "team=A B", "x"], None, "bad label"),
        (["submit", "-l", "jobs-id=x", "x"], None, "reserved"),
        (["submit", "--continue", "nosuch", "x"], None, "no job with id 'nosuch'"),
        (["show", "nosuch"], None, "no job with id 'nosuch'"),
        (["cancel", "nosuch"], None, "no job with id 'nosuch'"),
        (["delete", "--yes", "nosuch"], None, "no job with id 'nosuch'"),
        (["resubmit", "--yes", "nosuch"], None, "no job with id 'nosuch'"),
        (["list", "--status", "done"], None, "unknown status 'done'"),
        (["list", "--label", "nolabel"], None, "bad label"),
        (["list", "--since", "yesterday"], None, "bad --since 'yesterday'"),
        (["list", "--limit", "0"], None, "--limit"),
        (["list", "--json", "--watch"], None, "--json or --watch"),
        (["show", "--json", "--raw", "x"], None, "--json or --raw"),
        (["poll"], None, "missing option '--once' (see `gjobs poll --help`)"),
        (["submit", "--no-such-flag", "x"], None, "no such option"),
        (["frobnicate"], None, "no such command 'frobnicate'"),
        (["db", "frobnicate"], None, "no such command 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, populated, tmp_path, args, stdin, expected):
    (tmp_path / "p.txt").write_text("a prompt")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    message = cli.fails(*args, input=stdin)
    assert expected in message
    populated()


def test_click_usage_errors_exit_2_like_ours(cli):
    assert cli("poll", code=2).exit_code == 2
    assert cli("submit", code=2).exit_code == 2


@pytest.mark.parametrize("command", [["worker"], ["poll", "--once"]])
def test_the_worker_needs_a_key_before_it_starts(cli, monkeypatch, home, command):
    monkeypatch.delenv("GEMINI_API_KEY")
    assert "no API key" in cli.fails(*command, code=2)


def test_no_key_records_nothing(cli, monkeypatch, store_rows, emulator):
    monkeypatch.delenv("GEMINI_API_KEY")
    message = cli.fails("submit", "Why is the sky blue?", code=2)
    assert "no API key" in message and "GEMINI_API_KEY" in message and "jobs demo" in message
    assert store_rows().get("jobs", 0) == 0
    assert emulator.backend.stats()["requests"].get("create", 0) == 0


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_base_url_records_nothing(cli, monkeypatch, store_rows, closed_port):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", f"http://127.0.0.1:{closed_port}")
    message = cli.fails("submit", "Why is the sky blue?")
    assert f"127.0.0.1:{closed_port}" in message or "cannot connect" in message
    assert store_rows().get("jobs", 0) == 0


def test_an_unreachable_base_url_leaves_an_existing_store_alone(
    cli, populated, monkeypatch, closed_port
):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", f"http://127.0.0.1:{closed_port}")
    cli.fails("submit", "x")
    populated()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not = [valid toml", "is not valid TOML"),
        ("[api]\nnonsense = 1\n", "unknown setting 'api.nonsense'"),
        ("[worker]\ntick = 'fast'\n", "worker.tick"),
        ("model = 'x'\n", "must be a [section]"),
    ],
)
def test_a_corrupt_config_is_one_line(cli, home, store_rows, content, expected):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(content)
    message = cli.fails("submit", "x", code=2)
    assert expected in message and str(home / "config.toml") in message
    assert store_rows() == {}


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["show", "x"],
        ["cancel", "x"],
        ["config"],
        ["doctor"],
        ["poll", "--once"],
        ["worker"],
        ["-v", "list"],
    ],
)
def test_a_corrupt_config_stops_every_command_that_reads_it(cli, home, store_rows, command):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("not = [valid toml")
    assert "is not valid TOML" in cli.fails(*command, code=2)
    assert store_rows() == {}


def test_a_config_file_with_a_key_readable_by_others_is_refused(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text('[api]\nkey = "canary-secret-123"\n')
    path.chmod(0o644)
    message = cli.fails("list")
    assert "chmod 600" in message and "canary-secret-123" not in message


def test_a_store_that_is_not_a_database_is_one_line(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "jobs.db").write_bytes(b"this is not sqlite" * 100)
    message = cli.fails("list")
    assert "jobs.db" in message


def test_cancel_of_a_finished_job_is_refused_without_a_remote_call(
    cli, drive, store_rows, emulator
):
    done = cli.submit("finished one")
    drive(done["id"])
    before = store_rows()
    message = cli.fails("cancel", done["id"])
    assert "already ended completed" in message
    assert emulator.backend.stats()["requests"].get("cancel", 0) == 0
    assert store_rows() == before


def test_resubmit_of_a_job_that_is_not_submit_unknown_is_refused(cli, populated, emulator):
    message = cli.fails("resubmit", "--yes", populated.running["id"])
    assert "only submit_unknown jobs can be resubmitted" in message
    populated()


def test_show_raw_of_a_running_job_is_refused(cli, populated):
    message = cli.fails("show", "--raw", populated.running["id"])
    assert "no output yet" in message
