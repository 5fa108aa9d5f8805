"""`jobs list`: the table, the filters, the JSON contract, --watch."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from jobs.clock import FakeClock, SystemClock

USAGE_KEYS = {"input_tokens", "output_tokens", "thought_tokens", "cached_tokens", "total_tokens"}


def test_the_table_shows_each_job_newest_first(cli, clock, drive):
    old = cli.submit("An older question about tides")
    drive(old["id"])
    clock.advance(3600)
    new = cli.submit("-a", "deep-research-preview-04-2026", "A newer research question")
    out = cli("list").stdout
    header, first, second = out.splitlines()[:3]
    assert header.split() == ["id", "status", "model/agent", "age", "took", "tokens", "prompt"]
    assert first.startswith(new["id"]) and second.startswith(old["id"])
    assert "deep-research-preview-04-2026" in first and "A newer research question" in first
    assert "completed" in second and "1h0" in second  # age of the old job
    tokens = cli.json("show", old["id"])["usage"]["total_tokens"]
    assert f"{tokens:,}" in second


def test_the_table_fits_80_columns_without_cutting_ids_or_statuses(
    cli, monkeypatch, emulator, drive
):
    monkeypatch.setenv("COLUMNS", "80")
    first = cli.submit(
        "-a", "deep-research-preview-04-2026", "Research the history of tea in great depth, please"
    )
    waiting = cli.submit(
        "-a", "deep-research-preview-04-2026", "--continue", first["id"], "And of coffee?"
    )
    unknown = emulator.backend.faults.accept_then_fail("create", 500)
    lost = cli("submit", "A question whose create reply is lost", code=1).stdout.split()[0]
    assert unknown.hits == 1
    lines = cli("list").stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {first["id"], waiting["id"], lost}
    assert rows[lost].split()[1] == "submit_unknown"
    assert (
        rows[waiting["id"]].split()[1] == "pending"
        and f"after {first['id']}" in rows[waiting["id"]]
    )
    assert "Research the" in rows[first["id"]]


def test_an_empty_store_says_how_to_start(cli):
    result = cli("list")
    assert result.stdout == "" and "no jobs yet" in result.stderr and "jobs demo" in result.stderr
    assert cli.json("list") == []


def test_filters_narrow_the_list(cli, clock, emulator, drive):
    emulator.backend.faults.force_outcome("failed", label="team=b")
    a = cli.submit("-l", "team=a", "-l", "env=prod", "first")
    drive(a["id"])
    clock.advance(7200)
    b = cli.submit("-l", "team=b", "second")
    drive(b["id"])
    c = cli.submit("-l", "team=a", "third")

    def ids(*args: str) -> list[str]:
        return [job["id"] for job in cli.json("list", *args)]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids("--status", "completed") == [a["id"]]
    assert ids("--status", "failed,completed") == [b["id"], a["id"]]
    assert ids("--status", "failed", "--status", "queued", "--status", "in_progress") == [
        c["id"],
        b["id"],
    ]
    assert ids("--label", "team=a") == [c["id"], a["id"]]
    assert ids("--label", "team=a", "--label", "env=prod") == [a["id"]]
    assert ids("--since", "1h") == [c["id"], b["id"]]
    assert ids("--since", (clock.now().date().isoformat())) == [c["id"], b["id"], a["id"]]
    assert ids("--limit", "1") == [c["id"]]
    assert ids("-q", "seco") == [b["id"]]
    result = cli("list", "--label", "team=nobody")
    assert result.stdout == "" and "no jobs match" in result.stderr


def test_list_json_is_the_contract_for_scripts(cli, drive):
    model_job = cli.submit("a model job")
    agent_job = cli.submit("--research", "an agent job")
    drive(model_job["id"])
    listed = {job["id"]: job for job in cli.json("list")}
    done, running = listed[model_job["id"]], listed[agent_job["id"]]
    for job in (done, running):
        assert {"id", "interaction_id", "status", "created_at", "finished_at", "usage"} <= set(job)
        assert set(job["usage"]) >= USAGE_KEYS
        assert job["created_at"].endswith("Z")
    assert done["model"] == "gemini-3-flash-preview" and "agent" not in done
    assert running["agent"] == "deep-research-preview-04-2026" and "model" not in running
    assert done["status"] == "completed" and done["finished_at"].endswith("Z")
    assert all(isinstance(done["usage"][k], int) for k in USAGE_KEYS)
    assert (
        done["usage"]["total_tokens"]
        >= done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    )
    assert running["finished_at"] is None and running["usage"]["total_tokens"] is None


class InterruptingClock:
    """The test's clock as `list --watch` sees it: its Nth sleep is a Ctrl-C, and each sleep before
    that also runs `between` (a worker pass, say)."""

    def __init__(self, clock: FakeClock, sleeps: int, between) -> None:
        self.clock, self.left, self.between = clock, sleeps, between
        self.slept: list[float] = []
        self.now, self.monotonic = clock.now, clock.monotonic

    def sleep(self, seconds: float) -> None:
        self.left -= 1
        if self.left <= 0:
            raise KeyboardInterrupt
        self.slept.append(seconds)
        self.clock.sleep(seconds)
        self.between()


def test_watch_refreshes_until_ctrl_c_and_exits_zero(cli, clock, service):
    job = cli.submit("watch me")

    def worker_pass() -> None:
        clock.advance(30)
        service.run_pass()

    cli.clock = watch_clock = InterruptingClock(clock, sleeps=3, between=worker_pass)
    result = cli("list", "--watch")
    assert watch_clock.slept == [1.0, 1.0]  # refreshed every second; the third sleep was a Ctrl-C
    assert "jobs (Ctrl-C to stop)" in result.stdout and job["id"] in result.stdout
    assert "completed" in result.stdout  # the last refresh saw what the worker recorded
    assert service.get_job(job["id"]).status == "completed"


ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _read_until(fd: int, done, deadline: float) -> bytes:
    """Read a pty until `done(text so far, without ANSI codes)` is true, or fail at the deadline."""
    seen = b""
    while not done(ANSI.sub(b"", seen)):
        left = deadline - time.monotonic()
        assert left > 0, f"never got there; the terminal shows: {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the other end closed
                break
    return ANSI.sub(b"", seen)


def _ages(text: bytes, job_id: str) -> list[int]:
    """The ages (whole seconds) shown on the job's row in every draw so far."""
    return [int(m) for m in re.findall(job_id.encode() + rb"\s+\S+\s+\S+\s+(\d+)s ", text)]


@pytest.mark.slow
def test_watch_in_a_terminal_redraws_and_stops_cleanly_on_sigint(home, cli):
    """The real loop in a real process on a pseudo-terminal: it draws the table, redraws it as
    time passes, and SIGINT ends it with exit 0 and no traceback."""
    cli.clock = SystemClock()  # the watching process runs on real time: so must the job's age
    job = cli.submit("watch me in a terminal")
    master, slave = pty.openpty()
    env = {**os.environ, "JOBS_HOME": str(home), "COLUMNS": "80", "LINES": "24", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from jobs.cli import main; main()", "list", "--watch"],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        text=False,
        # A shell that runs us in the background (as CI may) starts children with SIGINT ignored,
        # and Python then never raises KeyboardInterrupt: give the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + 30
        first = _read_until(master, lambda text: _ages(text, job["id"]), deadline)
        assert b"jobs (Ctrl-C to stop)" in first
        # The age is computed when the table is built: an older age means the loop rebuilt it.
        shown = max(_ages(first, job["id"]))
        _read_until(master, lambda text: max(_ages(text, job["id"]), default=-1) > shown, deadline)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0, stderr
    assert b"Traceback" not in stderr
