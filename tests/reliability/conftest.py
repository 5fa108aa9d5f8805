"""Fixtures for the reliability suite: a real-clock emulator for subprocess tests, a store reader,
and the `Cli` helper that runs `jobs` (with crash points) as separate processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_checks import Cli, make_cli

LIVE_SPEED = 200.0  # simulated seconds per real second: a model job ends in a few hundredths


@pytest.fixture(scope="session")
def live_emulator_server():
    """An emulator on the real clock, for tests whose workers are other processes."""
    from jobs.emulator import EmulatorServer

    with EmulatorServer(speed=LIVE_SPEED) as server:
        yield server


@pytest.fixture
def live_emulator(live_emulator_server):
    live_emulator_server.backend.reset()
    return live_emulator_server


@pytest.fixture
def cli(tmp_path, live_emulator) -> Cli:
    """`jobs` as a subprocess: its own JOBS_HOME (SQLite), the real-clock emulator, short timeouts."""
    return make_cli(tmp_path / "cli-home", live_emulator.base_url, config=FAST_CONFIG)


FAST_CONFIG = {
    "api": {"timeout": 5.0, "create_timeout": 5.0},
    "polling": {"min_interval": 0.2, "max_interval": 0.5},
    "worker": {"tick": 0.1},
}


@pytest.fixture
def open_store() -> Iterator:
    """Open (and later close) a JobStore on a URL, to read what subprocesses wrote."""
    from jobs.db import open_database
    from jobs.store import JobStore

    opened = []

    def opener(url: str) -> JobStore:
        database = open_database(url)
        opened.append(database)
        return JobStore(database)

    yield opener
    for database in opened:
        database.close()


@pytest.fixture
def survivor(live_emulator):
    """A JobService on a `Cli`'s store whose FakeClock runs `ahead` seconds past the real time: it sees
    every lease a killed process left behind as expired (the store compares the caller's times)."""
    import random

    from reliability_checks import fake_clock_after

    from jobs.config import load_settings
    from jobs.db import open_database
    from jobs.gateway import Gateway
    from jobs.service import JobService
    from jobs.store import JobStore

    opened = []

    def make(cli: Cli, *, ahead: float = 600.0, owner: str = "survivor") -> JobService:
        settings = load_settings(cli.env)
        database = open_database(settings.db_url)
        opened.append(database)
        clock = fake_clock_after(ahead)
        return JobService(
            JobStore(database),
            Gateway(settings),
            clock,
            settings,
            owner=owner,
            rng=random.Random(1),
        )

    yield make
    for database in opened:
        database.close()
