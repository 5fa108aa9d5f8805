"""T7 (and T20 on PostgreSQL): 3 worker processes and 4 writer processes share one store.

500 jobs; all end; no "database is locked" reaches anyone's stderr; each job is created once; and no
job is polled by two workers at once, shown two ways: the workers' own audit of every API call (no two
`get`s of one interaction overlap in time across processes), and the store's poll counts adding up
to exactly the emulator's count of `get` requests (a poll made without holding the lease could not
be recorded, and the sums would differ).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from reliability_checks import check_invariants, creates_by_job, make_cli, wait_for

pytestmark = pytest.mark.slow

DRIVERS = str(Path(__file__).with_name("drivers.py"))
JOBS, WRITERS, WORKERS = 500, 4, 3
CONFIG = {
    "api": {"timeout": 10.0, "create_timeout": 10.0},
    "polling": {"min_interval": 0.5, "max_interval": 1.0},
    "worker": {"lease": 40.0, "batch": 25},
}


def overlapping_polls(audit: Path) -> list[tuple[str, tuple, tuple]]:
    calls = defaultdict(list)
    for line in audit.read_text().splitlines():
        op, key, start, end, pid = line.split()
        if op == "get":
            calls[key].append((float(start), float(end), pid))
    clashes = []
    for key, spans in calls.items():
        spans.sort()
        for a, b in zip(spans, spans[1:], strict=False):
            if b[0] < a[1] and a[2] != b[2]:
                clashes.append((key, a, b))
    return clashes


def test_T7_three_workers_and_four_writers_share_one_store(
    database_url, tmp_path, live_emulator, open_store
):
    cli = make_cli(tmp_path / "home", live_emulator.base_url, db_url=database_url, config=CONFIG)
    store = open_store(
        database_url if "postgresql" in database_url else f"sqlite:///{cli.home / 'jobs.db'}"
    )
    audit = tmp_path / "audit.log"
    started = time.monotonic()

    def spawn(*args):
        return subprocess.Popen(
            [sys.executable, DRIVERS, *args],
            env=cli.env,
            cwd=cli.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    workers = [spawn("worker", str(audit), "0.2") for _ in range(WORKERS)]
    writers = [spawn("writer", str(JOBS // WRITERS), f"w{i}") for i in range(WRITERS)]
    outputs = []
    accepted = []
    try:
        for process in writers:
            out, err = process.communicate(timeout=240)
            outputs.append(err)
            assert process.returncode == 0, err
            accepted += out.split()
        # a user at a terminal meanwhile: the real CLI, while the workers are busy
        for args in (
            ("list",),
            ("submit", "one more from the CLI"),
            ("list", "--status", "completed"),
        ):
            done = cli.run(*args)
            outputs.append(done.stderr)
            assert done.returncode == 0, done.stderr
        total = JOBS + 1

        def all_done() -> bool:
            counts = store.count_by_status()
            return counts.get("completed", 0) == total

        wait_for(
            all_done,
            timeout=240,
            what=f"{total} jobs to complete: {store.count_by_status()}",
            interval=0.5,
        )
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                _out, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                _out, err = process.communicate()
            outputs.append(err)
        for process in writers:
            if process.poll() is None:
                process.kill()
    elapsed = time.monotonic() - started

    assert all(p.returncode == 0 for p in workers), outputs[-WORKERS:]
    assert not [e for e in outputs if "locked" in e.lower()], [
        e for e in outputs if "locked" in e.lower()
    ]
    assert len(accepted) == JOBS == len(set(accepted))
    assert store.count_by_status() == {"completed": total}

    stats = live_emulator.backend.stats()
    creates = creates_by_job(stats)
    assert stats["creates"] == total and set(creates.values()) == {1} and len(creates) == total
    check_invariants(store, stats, accepted=accepted)

    assert overlapping_polls(audit) == []
    worker_pids = {str(p.pid) for p in workers}
    polled_by = defaultdict(set)
    for line in audit.read_text().splitlines():
        op, key, *_rest, pid = line.split()
        assert pid in worker_pids
        if op == "get":
            polled_by[key].add(pid)
    assert len({pid for pids in polled_by.values() for pid in pids}) == WORKERS, (
        "every worker took part"
    )
    assert sum(j.poll_count for j in store.list_jobs()) == stats["requests"]["get"]
    print(f"T7: {total} jobs, {stats['requests']['get']} polls, {elapsed:.1f}s")
