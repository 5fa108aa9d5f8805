"""Opening a store: a new one appears whole, a file that is not a store is left alone, a read-only
store can still be read."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.db import default_sqlite_url, open_database
from jobs.errors import StoreError

GJOBS = str(Path(sys.executable).parent / "gjobs")


def _cli(home: Path, *args: str, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "JOBS_HOME": str(home),
        "GEMINI_API_KEY": "test-key",
        "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9",  # nothing listens: no request may be needed
        "COLUMNS": "100",
        "HOME": str(home),
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
    }
    return subprocess.run(
        [*prefix, GJOBS, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_a_new_store_is_a_whole_wal_database_from_the_start(tmp_path):
    """Racing first opens must never find an empty file, nor switch its journal mode (the cause
    of "database is locked"): the file is in WAL mode before anyone opens it."""
    from jobs.db import _prepare_sqlite_file

    path = tmp_path / "home" / "jobs.db"
    _prepare_sqlite_file(path)
    header = path.read_bytes()[:100]
    assert header.startswith(b"SQLite format 3\x00")
    assert header[18:20] == b"\x02\x02"  # file format versions 2/2: WAL
    assert sorted(p.name for p in path.parent.iterdir()) == ["jobs.db"]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("content", "what"),
    [(b"", "an empty file (0 bytes)"), (b"my notes\n" * 10, "not an SQLite database")],
)
def test_a_file_that_is_not_a_store_is_reported_and_left_alone(tmp_path, content, what):
    path = tmp_path / "jobs.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as raised:
        open_database(default_sqlite_url(tmp_path))
    assert str(raised.value).startswith(f"the store at {path} is {what}, so not a jobs store")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.db"]


def test_another_programs_sqlite_database_is_not_migrated_into(tmp_path):
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE recipes (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="an SQLite database of something else"):
        open_database(default_sqlite_url(tmp_path))
    with sqlite3.connect(path) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"recipes"} and path.read_bytes() == before


@pytest.mark.slow
def test_list_and_doctor_say_an_empty_store_file_is_not_a_store(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "jobs.db").write_bytes(b"")
    listed = _cli(home, "list")
    assert listed.returncode == 1 and listed.stdout == ""
    assert listed.stderr.startswith("error: the store at ") and len(listed.stderr.splitlines()) == 1
    assert "is an empty file (0 bytes)" in listed.stderr
    doctor = _cli(home, "doctor")
    assert doctor.returncode == 1
    assert "fail" in doctor.stdout and "is an empty file (0 bytes)" in " ".join(
        doctor.stdout.split()
    )
    assert (home / "jobs.db").read_bytes() == b""


_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def _read_only(path: Path) -> list[str]:
    """A command prefix under which `path` (a file or a directory) cannot be written. Root may
    write whatever the mode bits say, so as root it is a read-only bind mount in a private mount
    namespace (gone with the process); otherwise chmod does it."""
    if os.geteuid() != 0:
        path.chmod(0o500 if path.is_dir() else 0o400)
        return []
    if not shutil.which("unshare"):
        pytest.skip("as root, needs unshare(1) to make a read-only mount")
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", _RO_MOUNT, str(path), "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.decode().strip()}")
    return ["unshare", "-m", "sh", "-c", _RO_MOUNT, str(path)]


@pytest.fixture
def store_with_a_job(tmp_path):
    home = tmp_path / "home"
    database = open_database(default_sqlite_url(home))
    try:
        from datetime import UTC, datetime

        from jobs.models import Job

        with database.write() as session:
            session.add(Job(id="ro2345", created_at=datetime.now(UTC), prompt_excerpt="kept"))
    finally:
        database.close()
    yield home
    for path in (home, *home.iterdir()):
        path.chmod(0o700)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_store_can_be_read_and_says_why_it_cannot_be_written(store_with_a_job, what):
    home = store_with_a_job
    prefix = _read_only(home / "jobs.db" if what == "file" else home)
    reason = "the file is read-only" if what == "file" or os.geteuid() == 0 else "is read-only"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return _cli(home, *args, prefix=prefix)

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert "ro2345" in listed.stdout and "kept" in listed.stdout
    shown = cli("show", "ro23", "--json")
    assert shown.returncode == 0, shown.stderr
    submitted = cli("submit", "hello")
    assert submitted.returncode == 1 and submitted.stdout == ""
    assert submitted.stderr.startswith("error: cannot write to the store at "), submitted.stderr
    assert reason in submitted.stderr and len(submitted.stderr.splitlines()) == 1
    assert "list, show, doctor" in submitted.stderr
    doctor = " ".join(cli("doctor").stdout.split())
    assert "writable: read-only" in doctor
