"""Starting and stopping the server in-process, and the `jobs emulator` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from emulator_checks import make_client, wait_for

from jobs.cli.emulator import emulator_command
from jobs.clock import FakeClock
from jobs.emulator import EmulatorBackend, EmulatorServer


def test_start_and_stop_are_fast_and_leave_no_thread():
    threads = threading.active_count()
    took = []
    for _ in range(3):
        started = time.monotonic()
        with EmulatorServer() as server:
            assert server.base_url.startswith("http://127.0.0.1:") and server.port > 0
            assert httpx2.get(f"{server.base_url}/_emulator/stats").status_code == 200
        assert not server.running
        took.append(time.monotonic() - started)
    # The fastest of three: a start or stop that waits out a timeout is slow every time, while a
    # machine loaded by other work slows some cycles (the mean of three failed at load 13).
    assert min(took) < 1.0, took
    assert threading.active_count() == threads


def test_stop_ends_open_streams_and_held_replies():
    clock = FakeClock()
    with EmulatorServer(clock=clock) as server:
        client = make_client(server.base_url)
        created = client.interactions.create(model="m", input="x", background=True)
        server.backend.faults.accept_then_delay("get", 30)
        errors: list[BaseException] = []

        def stream() -> None:
            try:
                with client.interactions.get(created.id, stream=True) as events:
                    list(events)
            except BaseException as exc:  # noqa: BLE001 - whatever the SDK makes of a closed server
                errors.append(exc)

        reader = threading.Thread(target=stream)
        reader.start()
        url = f"{server.base_url}/v1/interactions/{created.id}"
        holder = threading.Thread(
            target=httpx2.get, args=(url,), kwargs={"headers": {"x-goog-api-key": "k"}}
        )
        holder.start()
        requests = server.backend.stats
        wait_for(
            lambda: requests()["requests"]["get"] == 1 and requests()["requests"]["stream"] == 1
        )
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    reader.join(timeout=5)
    holder.join(timeout=5)
    assert not reader.is_alive() and not holder.is_alive()


def test_a_busy_port_fails_fast():
    with EmulatorServer() as first, pytest.raises(OSError):
        EmulatorServer(port=first.port).start()


def test_a_given_backend_is_shared():
    backend = EmulatorBackend(speed=5)
    with EmulatorServer(backend) as server:
        assert server.backend is backend
        client = make_client(server.base_url)
        client.interactions.create(model="m", input="x")
    assert backend.stats()["creates"] == 1
    with pytest.raises(TypeError):
        EmulatorServer(backend, speed=2)


@pytest.fixture
def fake_serve(monkeypatch):
    """Replace the blocking server with one that records its arguments and returns at once."""
    calls: dict = {}

    def serve(host, port, backend, on_ready=None):
        calls.update(host=host, port=port, backend=backend)
        on_ready(f"http://{host}:{port}")

    monkeypatch.setattr("jobs.emulator.server.serve", serve)
    return calls


def test_cli_prints_how_to_point_the_sdk_at_it(fake_serve):
    result = CliRunner().invoke(
        emulator_command,
        [
            "--port",
            "8799",
            "--speed",
            "600",
            "--fail-next",
            "create:503:2",
            "--outcome",
            "failed:1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "listening on http://127.0.0.1:8799" in result.output
    assert "export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8799" in result.output
    assert "export GEMINI_API_KEY=" in result.output
    assert "warning" not in result.output
    backend = fake_serve["backend"]
    assert backend.speed == 600
    assert [r["kind"] for r in backend.faults.rules()] == ["fail", "outcome"]


def test_cli_flags_for_the_tool_era_faults(fake_serve):
    result = CliRunner().invoke(
        emulator_command,
        ["--cancel-not-found", "2", "--forbidden-after-create", "1.5", "--webhook-fault", "down:3", "--webhook-fault", "delay:1:20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    backend = fake_serve["backend"]
    rules = backend.faults.rules()
    assert {"kind": "fail", "op": "cancel", "status": 404, "times": 2} in [
        {k: r[k] for k in ("kind", "op", "status", "times") if k in r} for r in rules
    ]
    assert any(r["kind"] == "forbidden_after_create" and r["seconds"] == 1.5 for r in rules)
    faults = backend.webhooks.stats()["faults"]
    assert [(f["kind"], f.get("times"), f.get("seconds")) for f in faults] == [("down", 3, None), ("delay", 1, 20.0)]  # fmt: skip


def test_cli_flags_for_tier_quotas_and_trigger_faults(fake_serve):
    result = CliRunner().invoke(
        emulator_command,
        ["--tier", "free", "--quota", "deep-research-pro-preview-12-2025=5/min,2", "--quota", "*=100/day", "--fail-executions", "3", "--fail-executions", "1:create"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    backend = fake_serve["backend"]
    config = backend.configure()
    assert (config["tier"], config["retention"]) == ("free", 86400)
    assert config["quotas"] == {"deep-research-pro-preview-12-2025": "5/min,2", "*": "100/day"}
    rules = [(r["kind"], r["times"], r["mode"]) for r in backend.faults.rules()]
    assert rules == [("trigger_failure", 3, "interaction"), ("trigger_failure", 1, "create")]
    result = CliRunner().invoke(emulator_command, ["--tier", "free", "--retention", "3600"])
    assert fake_serve["backend"].configure()["retention"] == 3600  # --retention overrides


def test_cli_sets_any_knob_and_any_fault_rule(fake_serve):
    result = CliRunner().invoke(
        emulator_command,
        ["--set", "function_rounds=3", "--set", "plan_status=requires_action", "--set", "file_ttl=600",
         "--fault", '{"kind": "upload_refused", "after_events": 2, "times": 1}',
         "--fault", '{"kind": "plan_expiry", "seconds": 3600, "status": 404}'],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Faults: 2 rule(s) active" in result.output
    backend = fake_serve["backend"]
    config = backend.configure()
    assert (config["function_rounds"], config["plan_status"], config["file_ttl"]) == (3, "requires_action", 600)  # fmt: skip
    assert [r["kind"] for r in backend.faults.rules()] == ["upload_refused", "plan_expiry"]


def test_cli_warns_on_a_non_loopback_host(fake_serve):
    result = CliRunner().invoke(emulator_command, ["--host", "0.0.0.0", "--api-key", "s3cret"])
    assert result.exit_code == 0
    assert "warning: binding 0.0.0.0" in result.output
    assert fake_serve["backend"].api_key == "s3cret"


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--speed", "0"], "--speed"),
        (["--fail-next", "create:503"], "--fail-next"),
        (["--fail-rate", "get:500:2"], "--fail-rate"),
        (["--malformed", "get:xml"], "--malformed"),
        (["--port", "70000"], "--port"),
        (["--webhook-fault", "explode"], "--webhook-fault"),
        (["--webhook-fault", "delay:1"], "--webhook-fault"),
        (["--tier", "gold"], "--tier"),
        (["--quota", "deep-research-pro-preview-12-2025"], "--quota"),
        (["--quota", "m=5/fortnight"], "--quota"),
        (["--quota", "=5/min"], "--quota"),
        (["--fail-executions", "x"], "--fail-executions"),
        (["--fail-executions", "1:explode"], "--fail-executions"),
        (["--set", "function_rounds=0"], "--set"),
        (["--set", "warp"], "--set"),
        (["--fault", '{"kind": "explode"}'], "--fault"),
        (["--fault", "not json"], "--fault"),
    ],
)
def test_cli_rejects_bad_flags(fake_serve, args, hint):
    result = CliRunner().invoke(emulator_command, args)
    assert result.exit_code == 2
    assert hint in result.output and "Error" in result.output
    assert fake_serve == {}  # nothing was served


def test_cli_reports_a_port_it_cannot_bind(monkeypatch):
    def busy(*args, **kwargs):
        raise OSError(98, "Address already in use")

    monkeypatch.setattr("jobs.emulator.server.serve", busy)
    result = CliRunner().invoke(emulator_command, ["--port", "8765"])
    assert result.exit_code == 1
    assert result.output == (
        "error: cannot listen on 127.0.0.1:8765: address already in use; "
        "pick another port: --port 8766, or --port 0 for any free one\n"
    )


@pytest.mark.slow
def test_the_jobs_emulator_command_serves_the_sdk(tmp_path: Path):
    jobs = Path(sys.executable).with_name("jobs")
    command = [str(jobs), "emulator", "--port", "0", "--speed", "100"]
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        first = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        base_url = first.rsplit(" ", 1)[-1].strip()
        client = make_client(base_url)
        created = client.interactions.create(model="m", input="from a subprocess", background=True)
        assert created.status == "queued"
        # Real seconds pass in another process: nothing to inject, so wait with a deadline.
        wait_for(
            lambda: client.interactions.get(created.id).status == "completed",
            timeout=10,
            what="the subprocess emulator to finish the job",
            interval=0.02,
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in process.stderr.read()
