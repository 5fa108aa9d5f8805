"""The one smoke test of the real scheduler loop: `jobs worker` in its own process, on real time,
against an emulator running faster than real time; it works jobs through and stops cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from waiting import wait_for

from jobs.emulator import EmulatorServer


def _query(db, sql: str) -> list[tuple]:
    """Rows from the worker's store; none while it does not exist yet (or is being migrated)."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # no such table: the worker is still creating the store
            return []


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_worker_daemon_runs_jobs_and_stops_cleanly(stop, home, monkeypatch):
    from jobs.cli import cli

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[polling]\nmin_interval = 0.2\nmax_interval = 0.5\n")
    db = home / "jobs.db"
    with EmulatorServer(speed=200) as emulator:
        monkeypatch.setenv("GEMINI_API_KEY", "test-key")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
        runner = CliRunner()

        def submit(*args: str) -> dict:
            return json.loads(runner.invoke(cli, ["submit", "--json", *args]).stdout)

        # A turn and its follow-up recorded before the worker starts: nothing polls the first
        # until then, so the second is sure to wait for the worker to submit it.
        first = submit("Name a colour.")
        second = submit("--continue", first["id"], "And another.")
        assert second["status"] == "pending"
        proc = subprocess.Popen(
            [sys.executable, "-c", "from jobs.cli import main; main()", "worker", "--tick", "0.2"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: _query(db, "SELECT id FROM workers WHERE stopped_at IS NULL"),
                timeout=30,
                what="the worker to start",
            )
            third = submit("Submitted while the worker runs.")
            assert third["interaction_id"]

            def statuses():
                rows = dict(_query(db, "SELECT id, status FROM jobs"))
                return rows if len(rows) == 3 and set(rows.values()) == {"completed"} else None

            wait_for(statuses, timeout=30, what="the three jobs to complete")
            proc.send_signal(stop)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert emulator.backend.stats()["creates"] == 3
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "a pass every 0.2s" in stderr and "worker stopped" in stderr.strip().splitlines()[-1]
    # What a person sees on Ctrl-C is "worker stopped", not a raw log record.
    assert f"received {stop.name}" not in stderr and " INFO " not in stderr
    [(worker_id, stopped_at)] = _query(db, "SELECT id, stopped_at FROM workers")
    assert worker_id.startswith("worker:") and stopped_at is not None
    [(previous,)] = _query(
        db, f"SELECT previous_interaction_id FROM jobs WHERE id = '{second['id']}'"
    )
    assert previous == first["interaction_id"]
