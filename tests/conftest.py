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
    "JOBS_WEBHOOK_URL",
    "JOBS_WEBHOOK_SECRET",
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Every test gets its own JOBS_HOME, and no key or endpoint from the developer's shell."""
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBS_HOME", str(tmp_path / "jobs-home"))


TEST_KEY = "test-key"


@pytest.fixture
def clock():
    """The one clock of a test: the service and the emulator both read it; tests advance it."""
    from jobs.clock import FakeClock

    return FakeClock()


@pytest.fixture(scope="session")
def emulator_server():
    """One emulator HTTP server for the whole session (each test resets it, see `emulator`)."""
    from jobs.clock import FakeClock
    from jobs.emulator import EmulatorServer

    with EmulatorServer(clock=FakeClock()) as server:
        yield server


@pytest.fixture
def emulator(emulator_server, clock):
    """The emulator, reset, on this test's fake clock; `emulator.backend` for faults and stats."""
    emulator_server.backend.reset(clock=clock)
    return emulator_server


@pytest.fixture
def make_settings(tmp_path, emulator):
    """Settings pointing at the emulator and a store in tmp_path (or `db_url`), plus overrides."""
    from jobs.config import load_settings

    def make(db_url: str | None = None, **overrides):
        environ = {
            "JOBS_HOME": str(tmp_path / "jobs-home"),
            "GEMINI_API_KEY": TEST_KEY,
            "GOOGLE_GEMINI_BASE_URL": emulator.base_url,
        }
        if db_url:
            environ["JOBS_DB_URL"] = db_url
        defaults = {"api.timeout": 5.0, "api.create_timeout": 5.0}
        return load_settings(environ).with_overrides(**{**defaults, **overrides})

    return make


@pytest.fixture
def settings(make_settings):
    return make_settings()


@pytest.fixture
def make_service(clock):
    """Build a JobService (the real gateway, SDK and store) for given settings; closed at the end."""
    import random

    from jobs.db import open_database
    from jobs.gateway import Gateway
    from jobs.service import JobService
    from jobs.store import JobStore

    opened = []

    def make(settings, *, owner: str = "test-worker", seed: int = 0):
        database = open_database(settings.db_url)
        opened.append(database)
        return JobService(
            JobStore(database),
            Gateway(settings),
            clock,
            settings,
            owner=owner,
            rng=random.Random(seed),
        )

    yield make
    for database in opened:
        database.close()


@pytest.fixture
def service(make_service, settings):
    """The service on SQLite, talking to the emulator through the real google-genai SDK."""
    return make_service(settings)
