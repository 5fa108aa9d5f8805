"""Databases for tests, on both backends.

`database_url` is parametrized: a SQLite file in tmp_path, and a fresh PostgreSQL database (created for
the test, dropped afterwards) on the server named by JOBS_TEST_POSTGRES_URL, e.g.
`postgresql+psycopg://postgres@127.0.0.1:5432/test` (the user needs CREATEDB). Without that variable the
PostgreSQL variants are skipped. These fixtures depend on nothing else here, so they can move to
tests/conftest.py as they are.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from jobs.db import Database, default_sqlite_url, open_database

POSTGRES_URL_ENV = "JOBS_TEST_POSTGRES_URL"


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """Create an empty database `jobs_t_<random>` on the admin URL's server; yield its URL; drop it."""
    url = make_url(admin_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    name = f"jobs_t_{secrets.token_hex(6)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_URL_ENV} to run PostgreSQL tests")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """The URL of a blank database (nothing created yet): SQLite file, or fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield default_sqlite_url(tmp_path / "home")
    else:
        admin_url = request.getfixturevalue("postgres_admin_url")
        with fresh_postgres_database(admin_url) as url:
            yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An opened, migrated database on each backend."""
    db = open_database(database_url)
    try:
        yield db
    finally:
        db.close()


# -- the rest of the test composition root -------------------------------------------------------------

_LEAKY_ENV = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_DEBUG",
    "JOBS_DB_URL",
    "JOBS_CONFIG",
    "JOBS_MODEL",
    "JOBS_API_VERSION",
    "JOBS_API_TIMEOUT",
    "JOBS_CRASH_AT",
    "JOBS_DEBUG",
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Every test gets its own JOBS_HOME, and no key or endpoint from the developer's shell."""
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBS_HOME", str(tmp_path / "jobs-home"))
