"""T10: a full disk (SQLite `PRAGMA max_page_count`) delays work but loses nothing.

The worker survives every pass that the store refuses; no transaction is half-applied; what the API
did meanwhile (an interaction created, a job finished) is recorded once the store takes writes again.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from reliability_checks import all_settled, check_invariants, creates_by_job, run_passes, snapshot

from jobs.errors import StoreError
from jobs.models import JobStatus
from jobs.service import SubmitSpec
from jobs.worker import Worker

UNLIMITED = 1073741823


class DiskFull:
    """Makes a SQLite store full: every connection gets `max_page_count` = the file's current size,
    the free pages are used up, and so is the room left in the last page of `job_events` (and its
    index). Every transaction that changes a job's state writes an event, so each of them now needs
    a page the store cannot have, and fails with SQLITE_FULL, as on a full disk."""

    def __init__(self, database) -> None:
        self.db, self.limit = database, None
        sa.event.listen(database.engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_connection, _record) -> None:
        if self.limit is not None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {self.limit}")

    def _stuff(self, statement: str, size: int) -> None:
        while size:
            try:
                with self.db.write() as session:
                    session.connection().exec_driver_sql(statement.format(size=size))
            except StoreError as exc:
                assert "full" in str(exc), exc
                size //= 2

    def fill(self) -> None:
        with self.db.write() as session:
            connection = session.connection()
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS ballast (x BLOB)")
            connection.exec_driver_sql(
                "INSERT INTO jobs (id, status, created_at, labels_json, prompt_excerpt, poll_count, "
                "submit_attempts, consecutive_errors) VALUES ('ballast', 'cancelled', '2026-01-01 00:00:00', "
                "'{}', 'disk filler', 0, 0, 0) ON CONFLICT DO NOTHING"
            )
        self.db.engine.dispose()
        with self.db.engine.connect() as connection:
            self.limit = connection.exec_driver_sql("PRAGMA page_count").scalar()
        self.db.engine.dispose()
        self._stuff("INSERT INTO ballast VALUES (zeroblob({size}))", 8192)
        self._stuff(
            "INSERT INTO job_events (job_id, at, kind, detail) VALUES "
            "('ballast', '2026-01-01 00:00:00', 'ballast', substr(hex(zeroblob({size})), 1, {size}))",
            1024,
        )

    def lift(self) -> None:
        self.limit = UNLIMITED
        self.db.engine.dispose()
        with self.db.write() as session:
            connection = session.connection()
            connection.exec_driver_sql("DELETE FROM job_events WHERE job_id = 'ballast'")
            connection.exec_driver_sql("DELETE FROM jobs WHERE id = 'ballast'")
            connection.exec_driver_sql("DROP TABLE ballast")


@pytest.fixture
def disk(service):
    return DiskFull(service.store.db)


class FillAfter:
    """Wraps a gateway: the disk fills up right after the named call reached the API."""

    def __init__(self, gateway, disk, op) -> None:
        self.inner, self.disk, self.op, self.armed = gateway, disk, op, True

    def __getattr__(self, name):
        call = getattr(self.inner, name)
        if name != self.op:
            return call

        def wrapped(*args, **kwargs):
            result = call(*args, **kwargs)
            if self.armed and (name != "get" or JobStatus.from_remote(result.status).is_terminal):
                self.armed = False
                self.disk.fill()
            return result

        return wrapped


def test_T10_a_new_job_on_a_full_disk_is_refused_clearly_and_nothing_is_sent(
    service, emulator, disk
):
    disk.fill()
    with pytest.raises(StoreError, match="full"):
        service.submit_new(SubmitSpec(prompt="no room"))
    assert emulator.backend.stats()["requests"]["create"] == 0
    disk.lift()
    job = service.submit_new(SubmitSpec(prompt="room again"))
    assert job.interaction_id


def test_T10_the_worker_survives_a_full_disk_changes_nothing_and_catches_up(
    service, emulator, clock, disk
):
    running = [service.submit_new(SubmitSpec(prompt=f"running {i}")).id for i in range(3)]
    waiting = [service.create_job(SubmitSpec(prompt=f"waiting {i}")).id for i in range(3)]
    before = check_invariants(service.store, emulator.backend.stats(), accepted=running + waiting)
    requests = dict(emulator.backend.stats()["requests"])
    disk.fill()
    worker = Worker(service)
    for _ in range(5):
        clock.advance(30)
        report = worker.poll_once()  # never raises
        assert report.errors >= 1
    after = {k: v for k, v in snapshot(service.store).items() if k != "ballast"}
    assert after == before, "a refused pass changed the store"
    assert emulator.backend.stats()["requests"]["create"] == requests["create"]
    disk.lift()
    run_passes(service, clock, until=lambda: all_settled(service.store), step=5, limit=200)
    assert service.store.count_by_status() == {"completed": 6}
    check_invariants(
        service.store, emulator.backend.stats(), accepted=running + waiting, before=before
    )


@pytest.mark.parametrize(
    "lease_expired_first",
    [False, "spool", "no-spool"],
    ids=["lifted-soon", "lifted-after-lease", "lifted-after-lease-without-the-spool"],
)
def test_T10_disk_full_between_create_and_its_record(
    service, emulator, clock, disk, make_service, make_settings, lease_expired_first, tmp_path
):
    """The interaction exists remotely but the store refuses its id: the worker keeps it in memory
    (and in the spool file) and records it when the store takes writes again. Another worker that
    finds the submission stale records the spooled id itself; without the spool it gives up on the
    submission (submit_unknown) and the first worker's late write still attaches the id. One
    create, never two; nothing lost."""
    job = service.create_job(SubmitSpec(prompt="created while the disk fills"))
    service.gateway = FillAfter(service.gateway, disk, "create")
    worker = Worker(service)
    clock.advance(1)
    assert worker.poll_once().errors == 1
    assert service.get_job(job.id).status == "submitting"
    assert creates_by_job(emulator.backend.stats())[job.id] == 1
    for _ in range(3):  # still full: passes fail, the worker lives on
        clock.advance(5)
        assert worker.poll_once().errors == 1
    disk.lift()
    if lease_expired_first:
        clock.advance(600)
        other = make_service(make_settings(), owner="other-worker")
        if lease_expired_first == "no-spool":
            other.recovery.spool.directory = tmp_path / "another-home" / "spool"
            other.run_pass()
            assert other.get_job(job.id).status == "submit_unknown"
        else:
            other.run_pass()
            assert other.get_job(job.id).interaction_id  # recovered from the spool file
            assert not list(other.recovery.spool.directory.glob("*.json"))
    clock.advance(1)
    worker.poll_once()
    recorded = service.get_job(job.id)
    assert recorded.interaction_id and recorded.job_status in (
        JobStatus.QUEUED,
        JobStatus.IN_PROGRESS,
        JobStatus.COMPLETED,  # the other worker recovered it and already saw it finish
    )
    run_passes(service, clock, until=lambda: all_settled(service.store), step=5, limit=100)
    assert service.get_job(job.id).status == "completed"
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 1
    check_invariants(service.store, stats, accepted=[job.id])


def test_T10_disk_full_before_the_terminal_write_is_retried_after_the_lease(
    service, emulator, clock, disk
):
    job = service.submit_new(SubmitSpec(prompt="finishing as the disk fills"))
    service.gateway = FillAfter(service.gateway, disk, "get")
    worker = Worker(service)
    for _ in range(50):
        clock.advance(5)
        worker.poll_once()
        if disk.limit is not None:
            break
    assert disk.limit is not None, "the job never finished"
    assert service.get_job(job.id).status != "completed" and service.get_result(job.id) is None
    assert worker.poll_once().errors == 0  # its lease holds: nobody touches it, nothing is lost
    disk.lift()
    clock.advance(float(service.settings["worker.lease"]) + 1)
    worker.poll_once()
    done = service.get_job(job.id)
    assert done.status == "completed" and service.get_result(job.id).output_text
    assert [e.kind for e in service.store.events_for(job.id)].count("completed") == 1
    check_invariants(service.store, emulator.backend.stats(), accepted=[job.id])


def test_an_idle_worker_pass_does_not_queue_for_the_write_lock(service, emulator, clock):
    """With nothing to do, a pass only reads: another process holding SQLite's write lock (a long
    CLI write, a checkpoint) does not stall it, and it does not stall the others."""
    import sqlite3
    import threading

    done = service.submit_new(SubmitSpec(prompt="finished already"))
    run_passes(service, clock, until=lambda: all_settled(service.store), step=5, limit=100)
    holder = sqlite3.connect(service.store.db.sqlite_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    passes = []
    thread = threading.Thread(target=lambda: passes.append(service.run_pass()), daemon=True)
    try:
        clock.advance(60)
        thread.start()
        thread.join(timeout=5)
        blocked = thread.is_alive()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        thread.join(timeout=60)
    assert not blocked, "an idle pass waited for the write lock"
    assert passes and passes[0].polled == 0
    assert service.get_job(done.id).status == "completed"
