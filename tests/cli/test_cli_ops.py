"""`jobs poll --once`, `config`, `--version`, `doctor`, `db upgrade`, and every command's help."""

from __future__ import annotations

import json
import sqlite3

import click
import pytest

from jobs import __version__

CANARY = "canary-key-5f3a9c1e77"


def test_poll_once_submits_polls_and_records(cli, clock, emulator):
    first = cli.submit("Name a colour.")
    waiting = cli.submit("--continue", first["id"], "Now name another.")
    clock.advance(60)
    assert cli("poll", "--once").stdout.strip() == "submitted 0, polled 1, finished 1, errors 0"
    assert cli.json("show", first["id"])["status"] == "completed"
    report = cli.json("poll", "--once")
    assert report["submitted"] == 1 and report["errors"] == 0  # the follow-up went out
    assert cli.json("show", waiting["id"])["interaction_id"]
    clock.advance(60)
    assert cli.json("poll", "--once")["finished"] == 1
    assert {j["status"] for j in cli.json("list")} == {"completed"}


def test_poll_once_does_not_count_as_a_live_worker(cli, home):
    cli("poll", "--once")
    with sqlite3.connect(home / "jobs.db") as connection:
        rows = connection.execute("SELECT id, stopped_at FROM workers").fetchall()
    assert len(rows) == 1 and rows[0][0].startswith("poll:") and rows[0][1] is not None
    cli.submit("x")
    doctor = {c["name"]: c for c in cli.json("doctor")}
    assert doctor["workers"]["level"] == "warn" and "no worker alive" in doctor["workers"]["detail"]
    assert "last pass" in doctor["workers"]["detail"]


def test_poll_once_needs_a_key(cli, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    assert "no API key" in cli.fails("poll", "--once")


def test_config_shows_values_and_sources_and_never_the_key(cli, monkeypatch, home, emulator):
    monkeypatch.setenv("GEMINI_API_KEY", CANARY)
    monkeypatch.setenv("JOBS_MODEL", "gemini-2.5-pro")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[worker]\ntick = 0.5\n[polling]\nmax_interval = 10\n")
    text = cli("config")
    as_json = cli("config", "--json")
    verbose = cli("-v", "config")
    for result in (text, as_json, verbose):
        assert CANARY not in result.output
    values = json.loads(as_json.stdout)
    assert values["api.key"] == {"value": "(set, hidden)", "source": "env GEMINI_API_KEY"}
    assert values["defaults.model"] == {"value": "gemini-2.5-pro", "source": "env JOBS_MODEL"}
    assert values["worker.tick"]["value"] == 0.5 and values["worker.tick"]["source"].startswith(
        "config file"
    )
    assert values["worker.lease"]["source"] == "default"
    assert values["api.base_url"] == {
        "value": emulator.base_url,
        "source": "env GOOGLE_GEMINI_BASE_URL",
    }
    assert values["home"]["value"] == str(home)
    lines = {line.split()[0]: line for line in text.stdout.splitlines() if line.strip()}
    assert (
        "(env JOBS_MODEL)" in lines["defaults.model"]
        and "gemini-2.5-pro" in lines["defaults.model"]
    )
    assert "0.5" in lines["worker.tick"] and "(config file)" in lines["worker.tick"]
    assert "(set, hidden)" in lines["api.key"]
    assert f"config file: {home / 'config.toml'}" in text.stdout


def test_config_fits_80_columns_without_cutting_values(cli, monkeypatch, emulator):
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("config").stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert emulator.base_url in out and "deep-research-preview-04-2026" in out


def test_config_without_a_key_says_not_set(cli, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    assert cli.json("config")["api.key"]["value"] == "(not set)"


def test_every_setting_is_documented_in_the_example_config():
    import tomllib
    from pathlib import Path

    from jobs.config import SETTINGS

    example = tomllib.loads((Path(__file__).parents[2] / "config.example.toml").read_text())
    for setting in SETTINGS:
        assert example[setting.section][setting.name] == setting.default, setting.key


def test_version(cli):
    assert cli("--version").stdout.strip() == f"gjobs, version {__version__}"


def test_doctor_on_a_fresh_store_is_ok(cli):
    result = cli("doctor")
    assert "integrity: ok" in result.stdout and "migrations" in result.stdout
    checks = cli.json("doctor")
    assert not [c for c in checks if c["level"] in ("warn", "fail")], checks


def test_doctor_warns_about_submit_unknown_jobs(cli, emulator):
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    job_id = cli("submit", "x", code=1).stdout.split()[0]
    out = " ".join(cli("doctor").stdout.split())  # undo the wrapping
    assert f"warn submit_unknown: 1 job(s) may exist remotely without their id: {job_id};" in out
    assert "jobs resubmit ID" in out


def test_db_upgrade_migrates_a_blank_store_once(cli, home):
    first = cli("db", "upgrade").stdout
    assert first.startswith("applied ") and "at revision" in first
    assert "is up to date" in cli("db", "upgrade").stdout
    assert (home / "jobs.db").exists()


def _commands(group: click.Group, path: str = "jobs"):
    for name, command in sorted(group.commands.items()):
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} {name}")


def test_commands_have_help(cli):
    """Every command and subcommand has a one-line docstring: its help in `jobs --help`."""
    from jobs.cli import cli as group

    commands = list(_commands(group))
    assert {p for p, _ in commands} >= {
        "jobs submit",
        "jobs list",
        "jobs show",
        "jobs cancel",
        "jobs delete",
        "jobs resubmit",
        "jobs worker",
        "jobs poll",
        "jobs config",
        "jobs doctor",
        "jobs db",
        "jobs db upgrade",
        "jobs db backup",
        "jobs usage",
        "jobs export",
        "jobs demo",
        "jobs emulator",
    }
    for path, command in [("jobs", group), *commands]:
        assert command.help, f"{path} has no help"
        summary = command.help.strip().split("\n\n")[0]  # then details and examples, if any
        assert len(summary.splitlines()) == 1, f"{path}: its summary is not one line"
        assert summary.endswith("."), path
        result = cli(*path.split()[1:], "--help")
        assert summary[:40] in " ".join(result.stdout.split())


@pytest.mark.parametrize("args", [[], ["db"]])
def test_a_group_alone_prints_its_help(cli, args):
    result = cli(*args, code=None)
    assert "Usage: gjobs" in result.output and "Commands:" in result.output


def test_doctor_says_how_to_fix_a_store_others_can_read(cli, home):
    cli("list")  # creates the store, 0600 in a 0700 directory
    home.chmod(0o755)
    out = " ".join(cli("doctor").stdout.split())
    assert (
        f"warn permissions: others may read the store: directory {home} is 755 (chmod 700 {home})"
        in out
    )
