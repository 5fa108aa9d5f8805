"""The CLI under test: click's CliRunner, the real SDK against the shared emulator, time on the
test's FakeClock (injected through `CliContext(clock=...)`, which the emulator shares).

`cli(...)` runs one command and returns click's Result (stdout and stderr apart); `cli.json(...)`
parses stdout; `cli.fails(...)` checks the bad-input contract: a non-zero exit, exactly one
`error: ...` line on stderr, no traceback. `drive(job_id)` runs worker passes, advancing the clock,
until the job ends. The terminal is 100 columns wide unless a test says otherwise.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

TERMINAL = {"completed", "failed", "cancelled", "incomplete", "budget_exceeded", "expired"}


class Cli:
    def __init__(self, clock) -> None:
        self.clock = clock
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | bytes | None = None, code: int | None = 0
    ) -> Result:
        from jobs.cli import cli
        from jobs.cli.context import CliContext

        result = self.runner.invoke(
            cli,
            list(args),
            input=input,
            obj=CliContext(clock=self.clock),
            prog_name="gjobs",
            catch_exceptions=False,
        )
        assert "Traceback" not in result.output, result.output
        if code is not None:
            assert result.exit_code == code, (
                f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def json(self, *args: str, input: str | None = None, code: int | None = 0):
        result = self(*args, "--json", input=input, code=code)
        return json.loads(result.stdout)

    def fails(self, *args: str, input: str | None = None, code: int | None = None) -> str:
        """Run a command that must be refused; returns its one stderr line (without `error: `)."""
        result = self(*args, input=input, code=None)
        assert result.exit_code != 0, f"expected a failure, got exit 0:\n{result.output}"
        if code is not None:
            assert result.exit_code == code, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert result.stdout == "", result.stdout
        return lines[0].removeprefix("error: ")

    def submit(self, *args: str, input: str | None = None) -> dict:
        return self.json("submit", *args, input=input)


@pytest.fixture
def cli(monkeypatch, emulator, clock) -> Cli:
    """Run `jobs ...` against the emulator, on the test's clock."""
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("JOBS_API_TIMEOUT", "5")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "50")
    return Cli(clock)


@pytest.fixture
def home(tmp_path) -> Path:
    """The JOBS_HOME the autouse fixture set up (the CLI's store lives there)."""
    return tmp_path / "jobs-home"


@pytest.fixture
def store_rows(home):
    """Row counts of every table of the store (all zero when there is no store yet)."""

    def count() -> dict[str, int]:
        path = home / "jobs.db"
        if not path.exists():
            return {}
        with contextlib.closing(sqlite3.connect(path)) as connection:
            tables = [
                r[0]
                for r in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'alembic%'"
                )
                # FTS5's own b-tree pages (segments, their index) change with any write and back;
                # its per-entry table (job_search_docsize) and job_search_rows are what matter.
                if r[0] not in ("job_search_data", "job_search_idx")
            ]
            rows = {
                t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables
            }
            rows["jobs_fingerprint"] = hash(
                tuple(connection.execute("SELECT * FROM jobs ORDER BY id"))
            )
        return {k: v for k, v in rows.items() if k == "jobs_fingerprint" or v}

    return count


@pytest.fixture
def drive(service, clock):
    """Worker passes (the service `jobs poll --once` calls), advancing the clock, until the job
    ends; returns the job. Cheaper than a CLI call per pass; `poll --once` has its own tests."""

    def run(job_id: str, *, step: float = 5.0, limit: int = 2000):
        for _ in range(limit):
            job = service.get_job(job_id)
            if job.job_status.is_terminal:
                return job
            clock.advance(step)
            service.run_pass()
        raise AssertionError(f"job {job_id} did not end: {service.get_job(job_id).status}")

    return run
