"""Schema migrations: Alembic, applied when a store is opened, cheap when there is nothing to do.

Every CLI command opens the store, so the common case (already at head) is one query against
`alembic_version`, compared with `SCHEMA_HEAD`; Alembic is imported only when an upgrade is due. A
test checks that `SCHEMA_HEAD` is Alembic's actual head, so a new migration cannot be forgotten here.

An upgrade runs in one transaction that also serialises concurrent openers: `BEGIN IMMEDIATE` on
SQLite (whose DDL is transactional), an advisory lock on PostgreSQL. The revision is read again
under that lock, so the second of two processes opening a blank store finds it done. On SQLite,
foreign keys are switched off around the upgrade (they can only be switched outside a transaction):
batch migrations copy and drop tables, and a DROP of `jobs` would otherwise cascade to its children.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

from jobs.db import _WRITE_OPTION, cannot_use_message, describe, is_store_failure
from jobs.errors import StoreError
from jobs.schema import SCHEMA_HEAD  # its own module: the read path (store/queries) needs it

__all__ = ["SCHEMA_HEAD", "current_revision", "ensure_schema", "migrations_dir", "upgrade"]


VERSION_TABLE = "alembic_version"

# pg_advisory_xact_lock key for migrations: any constant; this one spells "jobsmigr".
_PG_LOCK_KEY = 0x6A6F62736D696772

_PACKAGE_DIR = Path(__file__).resolve().parent


def migrations_dir() -> Path:
    """Alembic's script directory: jobs/_migrations in a wheel, <repo>/migrations in a checkout."""
    for candidate in (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError(
        f"the database migrations are missing from this installation of jobs ({_PACKAGE_DIR}); "
        "reinstall jobs"
    )


def current_revision(engine: sa.Engine) -> str | None:
    """The revision recorded in the database, or None for a database Alembic never touched."""
    with engine.connect() as connection:
        try:
            return _select_revision(connection)  # one query in the common case
        except (exc.OperationalError, exc.ProgrammingError):
            # Most likely "no such table". Look, then read again: another process may have just
            # created it; if the table is there and still cannot be read, that error is raised.
            connection.rollback()
            return _read_revision(connection)


def ensure_schema(engine: sa.Engine) -> list[str]:
    """Bring the schema to head; the fast path (already there) costs one query and no Alembic."""
    if current_revision(engine) == SCHEMA_HEAD:
        return []
    return upgrade(engine)


def upgrade(engine: sa.Engine) -> list[str]:
    """Apply pending migrations, return the revisions applied (oldest first)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    applied: list[str] = []

    def record(*, step, **_: object) -> None:
        if step.is_upgrade:
            applied.append(step.up_revision_id)

    try:
        with migration_connection(engine) as connection:
            current = _read_revision(connection)
            if current is not None and not _is_known(script, current):
                raise StoreError(newer_message(engine, current))
            if current is None:
                _refuse_unversioned(engine, connection)
            config.attributes["connection"] = connection
            config.attributes["on_version_apply"] = record
            command.upgrade(config, "head")
    except exc.DBAPIError as error:
        if not is_store_failure(error):
            raise
        raise StoreError(cannot_use_message(engine, error)) from error
    return applied


def newer_message(engine: sa.Engine, revision: str) -> str:
    return (
        f"the store at {describe(engine)} was written by a newer version of jobs "
        f"(revision {revision}); upgrade jobs"
    )


def alembic_config():
    """An Alembic Config pointing at our migrations, without alembic.ini (and its logging setup)."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolates %; a path may contain one.
    config.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    return config


@contextlib.contextmanager
def migration_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside one exclusive write transaction, committed if the block succeeds."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            _driver_pragma(connection, "PRAGMA foreign_keys = OFF")
        try:
            connection.execution_options(**{_WRITE_OPTION: True})
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                    )
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise StoreError(
                            f"migrating the store at {describe(engine)} would break "
                            f"{len(broken)} foreign key(s) (first: {tuple(broken[0])}); nothing changed"
                        )
        finally:
            if sqlite:
                # After the transaction, straight on the driver: through SQLAlchemy this would
                # begin a new transaction, inside which the pragma is silently ignored.
                if connection.in_transaction():
                    connection.rollback()
                _driver_pragma(connection, "PRAGMA foreign_keys = ON")


def _driver_pragma(connection: sa.Connection, statement: str) -> None:
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def _read_revision(connection: sa.Connection) -> str | None:
    """Inside a transaction we own: look before selecting (a failed statement aborts it on PostgreSQL)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return _select_revision(connection)


def _select_revision(connection: sa.Connection) -> str | None:
    rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").all()
    if len(rows) > 1:
        raise StoreError(
            f"the store at {describe(connection.engine)} has several schema versions "
            f"({', '.join(sorted(r[0] for r in rows))}); it was not made by jobs"
        )
    return rows[0][0] if rows else None


def _is_known(script, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:  # ResolutionError is a CommandError
        return False


def _refuse_unversioned(engine: sa.Engine, connection: sa.Connection) -> None:
    """A database with our tables but no version was not made by migrations: do not guess."""
    existing = set(sa.inspect(connection).get_table_names())
    ours = {"jobs", "job_labels", "job_results", "job_events", "workers"}
    if existing & ours:
        raise StoreError(
            f"the store at {describe(engine)} has tables ({', '.join(sorted(existing & ours))}) "
            "but no schema version; it was not made by `gjobs db upgrade`"
        )
    if existing and engine.dialect.name == "sqlite":
        # Another program's database (a wrong JOBS_HOME or path): adding our tables to it would
        # be writing where we were not asked to. (A PostgreSQL database may hold other schemas'
        # tables by design: README says to give jobs its own database or schema.)
        shown = ", ".join(sorted(existing)[:5]) + (", ..." if len(existing) > 5 else "")
        raise StoreError(
            f"the store at {describe(engine)} is an SQLite database of something else (tables: "
            f"{shown}), not a jobs store; it was left as it is: point JOBS_HOME (or "
            "JOBS_DB_URL) elsewhere"
        )
