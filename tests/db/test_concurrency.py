"""Several processes share one store: no "database is locked", no lost update."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from waiting import wait_for

from jobs.db import open_database
from jobs.migrate import SCHEMA_HEAD, current_revision
from jobs.models import Job

pytestmark = pytest.mark.slow

PROCESSES = 4
INCREMENTS = 200

# Each child opens the store, says it is ready, waits for "go", then does read-modify-write
# increments of one row, each in its own db.write() transaction. `with_for_update()` is the portable
# spelling: PostgreSQL needs the row lock (READ COMMITTED); SQLite renders nothing, as BEGIN IMMEDIATE
# already serialises writers.
INCREMENT = """
import json, sys, time
from pathlib import Path
from sqlmodel import select
from jobs.db import open_database
from jobs.models import Job

url, sync, name, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
db = open_database(url)
(sync / f"ready-{name}").touch()
while not (sync / "go").exists():
    time.sleep(0.001)
started = time.time()
for _ in range(count):
    with db.write() as session:
        job = session.exec(select(Job).where(Job.id == "count1").with_for_update()).one()
        job.poll_count += 1
print(json.dumps({"started": started, "ended": time.time()}))
db.close()
"""

OPEN = """
import sys, time
from pathlib import Path
import jobs.db, jobs.migrate, alembic.command  # imported before the start line, to overlap better

url, sync, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
(sync / f"ready-{name}").touch()
while not (sync / "go").exists():
    time.sleep(0.001)
jobs.db.open_database(url).close()
"""


def start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(processes: list[subprocess.Popen]) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert "locked" not in err
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


def release(children: list[subprocess.Popen], sync) -> None:
    """Wait until every child is ready, then let them all go at once."""

    def all_ready() -> bool:
        assert all(child.poll() is None for child in children), finish(children)
        return len(list(sync.glob("ready-*"))) >= len(children)

    wait_for(all_ready, timeout=60, what="the children to start")
    (sync / "go").touch()


def test_concurrent_increments_are_exact(database, database_url, tmp_path):
    with database.write() as session:
        session.add(Job(id="count1", created_at=datetime.now(UTC)))
    sync = tmp_path / "sync"
    sync.mkdir()
    children = [start(INCREMENT, database_url, sync, i, INCREMENTS) for i in range(PROCESSES)]
    release(children, sync)
    spans = [json.loads(out) for out in finish(children)]

    with database.read() as session:
        assert session.get(Job, "count1").poll_count == PROCESSES * INCREMENTS
    # They did run at the same time (or the test would prove nothing).
    assert max(span["started"] for span in spans) < min(span["ended"] for span in spans)


def test_concurrent_first_opens_migrate_once(database_url, tmp_path):
    """Several processes opening a blank store at once: one migrates, the others wait and find it done."""
    sync = tmp_path / "sync"
    sync.mkdir()
    children = [start(OPEN, database_url, sync, i) for i in range(PROCESSES)]
    release(children, sync)
    finish(children)
    db = open_database(database_url, migrate=False)
    try:
        assert current_revision(db.engine) == SCHEMA_HEAD
    finally:
        db.close()
