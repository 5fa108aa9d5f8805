"""Alembic environment for jobs.

Two ways in:
- `jobs.migrate.upgrade()` (every store open, `jobs db upgrade`): it passes a connection that is
  already inside the exclusive migration transaction, in `config.attributes["connection"]`.
- the `alembic` CLI at the repository root (alembic.ini), for developers: the store `jobs` itself
  would open (`JOBS_DB_URL`, the config file, else `$JOBS_HOME/jobs.db`). The engine and the
  locking are the same as in `upgrade()`.

New revisions are numbered by hand: `alembic revision -m "what" --rev-id 0002` (with
`--autogenerate` against a database at head to get a draft), then bump `jobs.migrate.SCHEMA_HEAD`.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import jobs.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _cli_url() -> str:
    """sqlalchemy.url if a script set it, else the store `jobs` itself would open."""
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from jobs.config import load_settings  # JOBS_DB_URL, config file, else $JOBS_HOME/jobs.db

    return load_settings().db_url


def _include_name(name, type_, parent_names) -> bool:
    """Leave out what is not a model: SQLite's full-text search tables (job_search*, migrations
    0005 and 0007) and PostgreSQL's expression indexes for search (autogenerate cannot compare those)."""
    if type_ == "table" and name and name.startswith("job_search"):
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)


# PostgreSQL's search indexes (migrations 0005 and 0007): on expressions, which models cannot state.
SEARCH_INDEXES = ("ix_jobs_search", "ix_job_requests_search", "ix_job_results_search")


def _options(dialect_name: str) -> dict:
    options: dict = {
        "target_metadata": target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "include_name": _include_name,
    }
    on_version_apply = config.attributes.get("on_version_apply")
    if on_version_apply is not None:
        options["on_version_apply"] = [on_version_apply]
    return options


def _run(connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    from sqlalchemy.engine import make_url

    url = _cli_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return

    from jobs.db import create_engine
    from jobs.migrate import migration_connection

    engine = create_engine(_cli_url())
    try:
        with migration_connection(engine) as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
