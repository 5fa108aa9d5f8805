"""The store is private: a 0700 directory, and the database, -wal and -shm files 0600."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from jobs.db import default_sqlite_url, open_database
from jobs.models import Worker

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private_under_umask_022(tmp_path):
    home = tmp_path / "data" / "jobs"
    with umask(0o022):
        # Control: a database SQLite creates by itself would be readable by everyone.
        plain = sqlite3.connect(tmp_path / "plain.db")
        plain.execute("CREATE TABLE t (x)")
        plain.close()
        assert mode(tmp_path / "plain.db") == 0o644

        db = open_database(default_sqlite_url(home))
        try:
            from datetime import UTC, datetime

            now = datetime.now(UTC)
            with db.write() as session:
                session.add(Worker(id="w", hostname="h", pid=1, started_at=now, heartbeat_at=now))
            # The -wal and -shm files exist while a connection is open.
            with db.read():
                files = {
                    name: mode(home / name) for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm")
                }
            assert files == {"jobs.db": 0o600, "jobs.db-wal": 0o600, "jobs.db-shm": 0o600}
            assert mode(home) == 0o700
        finally:
            db.close()


def test_an_existing_directory_keeps_its_mode(tmp_path):
    """JOBS_HOME may be a directory the user chose; we create the file 0600 but leave the dir alone."""
    home = tmp_path / "mine"
    home.mkdir(mode=0o750)
    os.chmod(home, 0o750)
    with umask(0o022):
        open_database(default_sqlite_url(home)).close()
    assert mode(home) == 0o750
    assert mode(home / "jobs.db") == 0o600
