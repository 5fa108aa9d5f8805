"""Migrations: they build exactly the models' schema, on both backends, and only when needed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import jobs.models  # noqa: F401  (registers the tables)
from jobs.db import Database, create_engine, default_sqlite_url, open_database
from jobs.errors import StoreError
from jobs.migrate import (
    SCHEMA_HEAD,
    alembic_config,
    current_revision,
    migration_connection,
    migrations_dir,
    upgrade,
)

REPO = Path(__file__).resolve().parents[2]
MODEL_TABLES = {
    "jobs",
    "job_requests",
    "job_labels",
    "job_results",
    "job_events",
    "workers",
    "interaction_events",
    "job_watches",
    "job_usage",
    "budgets",
    "webhook_deliveries",
}
MODEL_TABLES |= {"batches", "batch_lines", "schedules", "schedule_firings", "notifications"}
# SQLite full-text search (migration 0005): an FTS5 table, its shadow tables and a key table; not
# models, so the comparison leaves them out (test_search_index_* check them instead).
SEARCH_PREFIX = "job_search"


def _not_search(name, type_, parent_names) -> bool:
    if type_ == "table" and name and name.startswith(SEARCH_PREFIX):
        return False
    # PostgreSQL's search indexes are on expressions (to_tsvector(...)), which models cannot state.
    return not (
        type_ == "index"
        and name in ("ix_jobs_search", "ix_job_requests_search", "ix_job_results_search")
    )


def schema_diff(engine: sa.Engine, metadata: sa.MetaData = SQLModel.metadata) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _not_search}
        )
        return compare_metadata(context, metadata)


def all_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def table_names(engine: sa.Engine) -> set[str]:
    return {n for n in sa.inspect(engine).get_table_names() if not n.startswith(SEARCH_PREFIX)}


def test_blank_database_migrates_to_exactly_the_models(database_url):
    db = open_database(database_url)
    try:
        assert table_names(db.engine) == MODEL_TABLES | {"alembic_version"}
        assert schema_diff(db.engine) == []
    finally:
        db.close()


def test_schema_comparison_notices_differences(database):
    """Guards the test above: compare_metadata does see a missing index, a type, a nullability."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_jobs_status")
    other = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(other)
    other.tables["workers"].c.hostname.type = sa.String(300)
    other.tables["workers"].c.stopped_at.nullable = False
    kinds = {
        diff[0] if isinstance(diff, tuple) else diff[0][0]
        for diff in schema_diff(database.engine, other)
    }
    assert {"add_index", "modify_type", "modify_nullable"} <= kinds


def test_upgrade_reports_what_it_applied_and_is_idempotent(database_url):
    db = open_database(database_url, migrate=False)
    try:
        assert current_revision(db.engine) is None
        assert table_names(db.engine) == set()
        assert upgrade(db.engine) == all_revisions()
        assert current_revision(db.engine) == SCHEMA_HEAD
        assert upgrade(db.engine) == []
        assert current_revision(db.engine) == SCHEMA_HEAD
    finally:
        db.close()
    # Opening again changes nothing either.
    open_database(database_url).close()
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) == SCHEMA_HEAD
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_schema_head_is_alembics_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [SCHEMA_HEAD], "bump jobs.migrate.SCHEMA_HEAD with a new migration"


def test_checkout_uses_top_level_migrations():
    # The wheel case (jobs/_migrations) is covered by test_install.py.
    assert migrations_dir() == REPO / "migrations"


def modules_after_open(url: str) -> dict:
    code = (
        "import json, sys\n"
        "from jobs.db import open_database\n"
        "open_database(sys.argv[1]).close()\n"
        "print(json.dumps({'alembic': 'alembic' in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


def test_opening_a_store_at_head_does_not_import_alembic(tmp_path):
    url = default_sqlite_url(tmp_path)
    # A blank store needs Alembic (and this shows the probe works)...
    assert modules_after_open(url) == {"alembic": True}
    # ...one already at head does not.
    assert modules_after_open(url) == {"alembic": False}


def snapshot(db: Database) -> tuple:
    with db.engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        jobs = connection.exec_driver_sql("SELECT id FROM jobs ORDER BY id").all()
    return version, jobs, table_names(db.engine)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_database_newer_than_the_code_is_refused_and_left_alone(database_url):
    db = open_database(database_url)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d9999'")
        connection.exec_driver_sql(
            "INSERT INTO jobs (id, prompt_excerpt, labels_json, status, created_at,"
            " poll_count, submit_attempts, consecutive_errors)"
            " VALUES ('abc234', '', '{}', 'pending', '2026-06-01 12:00:00', 0, 0, 0)"
        )
    before = snapshot(db)
    path = db.sqlite_path
    db.close()
    digest = file_digest(path) if path else None

    with pytest.raises(StoreError) as raised:
        open_database(database_url)
    where = str(path) if path else db.display_url
    assert str(raised.value) == (
        f"the store at {where} was written by a newer version of jobs (revision f00d9999); "
        "upgrade jobs"
    )
    if path:
        assert file_digest(path) == digest
    db = open_database(database_url, migrate=False)
    try:
        assert snapshot(db) == before
        with pytest.raises(StoreError, match="newer version of jobs"):
            upgrade(db.engine)
        assert snapshot(db) == before
    finally:
        db.close()


def test_corrupt_file_is_a_clear_store_error(tmp_path):
    path = tmp_path / "jobs.db"
    junk = bytes(range(256)) * 64
    path.write_bytes(junk)
    with pytest.raises(StoreError) as raised:
        open_database(default_sqlite_url(tmp_path))
    assert str(raised.value).startswith(
        f"the store at {path} is not an SQLite database, so not a jobs store; it was left as it is"
    )
    assert path.read_bytes() == junk


def test_truncated_database_is_a_clear_store_error(tmp_path):
    open_database(default_sqlite_url(tmp_path)).close()
    path = tmp_path / "jobs.db"
    path.write_bytes(path.read_bytes()[: 4096 + 100])
    with pytest.raises(StoreError, match=r"^cannot use the store at .*jobs\.db: "):
        db = open_database(default_sqlite_url(tmp_path))
        with db.read() as session:  # in case opening alone did not touch the damaged pages
            session.exec(sa.text("SELECT count(*) FROM job_events")).all()


def test_tables_without_a_version_are_refused(database_url):
    db = open_database(database_url, migrate=False)
    try:
        SQLModel.metadata.create_all(db.engine)
        with pytest.raises(StoreError, match="has tables .* but no schema version"):
            upgrade(db.engine)
        assert current_revision(db.engine) is None
    finally:
        db.close()


def test_alembic_cli_from_the_checkout(tmp_path):
    """alembic.ini + env.py work for developers: upgrade, then autogenerate finds nothing to do."""
    env = {
        **os.environ,
        "JOBS_HOME": str(tmp_path / "home"),
        "JOBS_DB_URL": default_sqlite_url(tmp_path / "cli"),
    }
    alembic = [sys.executable, "-m", "alembic"]
    subprocess.run([*alembic, "upgrade", "head"], cwd=REPO, env=env, check=True, timeout=60)
    check = subprocess.run(
        [*alembic, "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    engine = create_engine(env["JOBS_DB_URL"])
    try:
        assert current_revision(engine) == SCHEMA_HEAD
    finally:
        engine.dispose()


def rebuild_jobs_table(connection) -> None:
    """What a future SQLite batch migration does to `jobs`: copy, DROP, rename."""
    from alembic.operations import Operations

    operations = Operations(MigrationContext.configure(connection))
    with operations.batch_alter_table("jobs", recreate="always"):
        pass


def test_batch_migrations_do_not_cascade_on_sqlite(tmp_path):
    """Foreign keys are off during migrations; with them on, rebuilding `jobs` empties its children."""
    db = open_database(default_sqlite_url(tmp_path))
    try:
        with db.write() as session:
            session.add(jobs.models.Job(id="abc234", created_at=datetime.now(UTC)))
            session.flush()
            session.add(jobs.models.JobLabel(job_id="abc234", key="k", value="v"))

        def labels() -> int:
            with db.engine.connect() as connection:
                return connection.exec_driver_sql("SELECT count(*) FROM job_labels").scalar()

        db.engine.dispose()  # so the next connections are all the one the migration used
        with migration_connection(db.engine) as connection:
            rebuild_jobs_table(connection)
        assert labels() == 1
        assert db.engine.pool.checkedin() == 1
        with db.engine.connect() as connection:  # that connection has foreign keys on again
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

        # Control: the same rebuild with foreign keys on loses the labels.
        with db.engine.begin() as connection:
            rebuild_jobs_table(connection)
        assert labels() == 0
    finally:
        db.close()


def test_0007_moves_requests_out_of_jobs_and_back(database_url):
    """A store at 0006 with jobs (one finished, one pending): after the upgrade each request is
    in job_requests, `jobs` has no request column, and search finds prompts and outputs; the
    downgrade puts every request back into `jobs` (and search still works); upgrading again
    gives the same requests."""
    from alembic import command

    from jobs.store import JobStore
    from jobs.store.queries import ListFilter, open_queries

    engine = create_engine(database_url)
    config = alembic_config()

    def migrate(to: str, *, down: bool = False) -> None:
        with migration_connection(engine) as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, to)

    requests = {
        "done11": json.dumps({"input": "Why do volcanoes erupt?", "model": "m"}),
        "wait22": json.dumps({"input": "Tell me about glaciers", "service_tier": "flex"}),
    }
    migrate("0006")
    with engine.begin() as connection:
        for job_id, body in requests.items():
            connection.execute(
                sa.text(
                    "INSERT INTO jobs (id, prompt_excerpt, request_json, labels_json, status,"
                    " created_at, poll_count, submit_attempts, consecutive_errors)"
                    " VALUES (:id, 'excerpt', :body, '{}', 'pending', '2026-01-01 00:00:00', 0, 0, 0)"
                ),
                {"id": job_id, "body": body},
            )
        connection.execute(
            sa.text(
                "INSERT INTO job_results VALUES ('done11', 'Magma rises through basalt.', '[]',"
                " '[]', '{}', '[]', '{}')"
            )
        )

    def search(text: str) -> list[str]:
        db = Database(engine)
        with open_queries(database_url, lambda: db) as queries:
            return sorted(h.job.id for h in queries.search(text, ListFilter()))

    def request_columns() -> set[str]:
        return {c["name"] for c in sa.inspect(engine).get_columns("jobs")} & {"request_json"}

    migrate("0007")
    assert request_columns() == set()
    store = JobStore(Database(engine))
    assert {job_id: store.request_of(job_id) for job_id in requests} == requests
    assert store.get_job("wait22").request_json == requests["wait22"]
    assert search("volcanoes") == ["done11"] and search("basalt") == ["done11"]
    assert search("glaciers") == ["wait22"]
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:  # the external-content index matches its source
            connection.exec_driver_sql(
                "INSERT INTO job_search(job_search, rank) VALUES ('integrity-check', 1)"
            )

    migrate("0006", down=True)
    assert request_columns() == {"request_json"}
    with engine.connect() as connection:
        back = dict(connection.exec_driver_sql("SELECT id, request_json FROM jobs").all())
        assert "job_requests" not in sa.inspect(connection).get_table_names()
    assert back == requests
    if engine.dialect.name == "sqlite":  # 0005's search again (PostgreSQL: its index on jobs)
        with engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT k.job_id FROM job_search JOIN job_search_keys k ON k.id = job_search.rowid"
                " WHERE job_search MATCH 'basalt OR glaciers' ORDER BY k.job_id"
            ).all()
        assert [r[0] for r in found] == ["done11", "wait22"]

    migrate("head")
    assert {job_id: store.request_of(job_id) for job_id in requests} == requests
    assert search("basalt") == ["done11"]
    assert schema_diff(engine) == []
    engine.dispose()
