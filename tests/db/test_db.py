"""Database: transactions, pragmas, URLs and errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database, create_engine, default_sqlite_url, open_database
from jobs.errors import StoreError
from jobs.models import Job, JobLabel, JobResult

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def make_job(job_id: str = "abc234", **fields) -> Job:
    return Job(id=job_id, created_at=T0, **fields)


def test_write_commits_and_objects_stay_usable(database):
    with database.write() as session:
        job = make_job(model="gemini-3-pro")
        session.add(job)
    # expire_on_commit=False: the object is still readable after the transaction.
    assert job.model == "gemini-3-pro"
    with database.read() as session:
        loaded = session.get(Job, "abc234")
    assert loaded.model == "gemini-3-pro"
    assert loaded.created_at == T0
    assert loaded.created_at.tzinfo is not None


def test_write_rolls_back_on_error(database):
    with pytest.raises(ZeroDivisionError), database.write() as session:
        session.add(make_job())
        session.flush()
        raise ZeroDivisionError
    with database.read() as session:
        assert session.exec(select(Job)).all() == []


def test_datetimes_come_back_aware_utc(database):
    later = datetime(2026, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    with database.write() as session:
        session.add(make_job(next_poll_at=later))
    with database.read() as session:
        job = session.get(Job, "abc234")
    assert job.next_poll_at == later
    assert job.next_poll_at.utcoffset() == timedelta(0)


def test_foreign_keys_are_enforced_and_cascade(database):
    with pytest.raises(sa.exc.IntegrityError), database.write() as session:
        session.add(JobLabel(job_id="nosuch", key="k", value="v"))
    with database.write() as session:
        session.add(make_job())
        session.flush()
        session.add(JobLabel(job_id="abc234", key="k", value="v"))
        session.add(JobResult(job_id="abc234", output_text="done"))
    with database.write() as session:
        session.execute(sa.delete(Job).where(Job.id == "abc234"))
    with database.read() as session:
        assert session.exec(select(JobLabel)).all() == []
        assert session.exec(select(JobResult)).all() == []


def test_read_refuses_writes(database):
    with pytest.raises(RuntimeError, match="use Database.write"), database.read() as session:
        session.add(make_job())
    with pytest.raises(RuntimeError, match="use Database.write"), database.read() as session:
        session.execute(sa.update(Job).values(status="failed"))
    with database.read() as session:
        assert session.exec(select(Job)).all() == []


def test_sqlite_pragmas(tmp_path):
    db = open_database(default_sqlite_url(tmp_path))
    try:
        with db.engine.connect() as connection:

            def pragma(name: str):
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") >= 5000
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("mmap_size") == 0
    finally:
        db.close()


def other_writer(path: Path) -> sqlite3.Connection:
    """A plain connection that gives up at once when the database is write-locked."""
    return sqlite3.connect(path, timeout=0, isolation_level=None)


def test_write_takes_the_write_lock_at_begin(tmp_path):
    """db.write() is BEGIN IMMEDIATE: after a mere SELECT, no one else can write; db.read() is not."""
    db = open_database(default_sqlite_url(tmp_path))
    other = other_writer(db.sqlite_path)
    try:
        with db.read() as session:
            session.exec(select(Job)).all()
            other.execute(
                "INSERT INTO workers VALUES ('w1', 'h', 1, '2026-06-01', '2026-06-01', NULL)"
            )
        with db.write() as session:
            session.exec(select(Job)).all()
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("DELETE FROM workers")
        other.execute("DELETE FROM workers")
    finally:
        other.close()
        db.close()


def test_deferred_read_then_write_fails_where_immediate_waits(tmp_path):
    """Why every write is BEGIN IMMEDIATE: a deferred transaction that read before another
    connection committed cannot write at all, busy timeout or not ("database is locked")."""
    db = open_database(default_sqlite_url(tmp_path))
    other = other_writer(db.sqlite_path)
    try:
        with db.write() as session:
            session.add(make_job())
        with db.engine.connect() as connection:  # the plain engine: deferred BEGIN, 30 s timeout
            connection.begin()
            connection.exec_driver_sql("SELECT poll_count FROM jobs").all()
            other.execute("UPDATE jobs SET poll_count = poll_count + 1")
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                connection.exec_driver_sql("UPDATE jobs SET poll_count = poll_count + 1")
        with db.write() as session:  # the same sequence, immediate: this one just works
            job = session.get(Job, "abc234")
            job.poll_count += 1
        with db.read() as session:
            assert session.get(Job, "abc234").poll_count == 2
    finally:
        other.close()
        db.close()


def test_store_failure_in_a_transaction_is_a_store_error(tmp_path):
    """A full disk (simulated with max_page_count) is a StoreError, and nothing is half-written."""
    db = open_database(default_sqlite_url(tmp_path))
    try:
        with db.write() as session:
            session.add(make_job())
        with (
            pytest.raises(
                StoreError, match=r"^cannot use the store at .*: database or disk is full"
            ),
            db.write() as session,
        ):
            pages = session.connection().exec_driver_sql("PRAGMA page_count").scalar()
            session.connection().exec_driver_sql(f"PRAGMA max_page_count = {pages}")
            session.add(JobResult(job_id="abc234", output_text="x" * 1_000_000))
            session.get(Job, "abc234").status = "completed"
        db.engine.dispose()  # drop the connection with the lowered limit
        with db.read() as session:
            assert session.get(Job, "abc234").status == "pending"
            assert session.exec(select(JobResult)).all() == []
    finally:
        db.close()


def test_in_memory_sqlite_works_for_quick_uses():
    db = open_database("sqlite://")
    try:
        assert db.sqlite_path is None
        with db.write() as session:
            session.add(make_job())
        with db.read() as session:
            assert session.get(Job, "abc234") is not None
    finally:
        db.close()


def test_default_sqlite_url_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_sqlite_url(Path("home")) == f"sqlite:///{tmp_path.resolve()}/home/jobs.db"
    assert default_sqlite_url(Path("home")).startswith("sqlite:////")


def test_properties_and_password_masking(tmp_path):
    db = Database(create_engine("postgresql://jobs:s3cret@db.example:5432/jobs"))
    assert db.dialect == "postgresql"
    assert db.engine.dialect.driver == "psycopg"
    assert db.sqlite_path is None
    assert "s3cret" not in repr(db) and "s3cret" not in str(db)
    assert "***" in repr(db)
    assert db.url == "postgresql+psycopg://jobs:s3cret@db.example:5432/jobs"
    db.close()
    sqlite_db = Database(create_engine(default_sqlite_url(tmp_path)))
    assert sqlite_db.dialect == "sqlite"
    assert sqlite_db.sqlite_path == tmp_path.resolve() / "jobs.db"
    sqlite_db.close()


def test_unreachable_server_is_a_store_error_without_the_password():
    with pytest.raises(StoreError) as raised:
        open_database("postgresql+psycopg://jobs:s3cret@127.0.0.1:1/jobs?connect_timeout=5")
    message = str(raised.value)
    assert message.startswith("cannot use the store at postgresql+psycopg://jobs:***@127.0.0.1:1/")
    assert "s3cret" not in message
    assert "\n" not in message


def test_bad_urls_are_store_errors(tmp_path):
    with pytest.raises(StoreError, match="invalid database URL"):
        open_database("not a url")
    with pytest.raises(StoreError, match="unsupported database URL"):
        open_database("nosuchdb://x/y")


def test_unusable_path_is_a_store_error(tmp_path):
    (tmp_path / "jobs.db").mkdir()
    with pytest.raises(
        StoreError, match=r"^the store at .*jobs\.db is a directory, not a jobs store"
    ):
        open_database(default_sqlite_url(tmp_path))
