"""The composition root: builds settings, store, gateway, clock and service for a process."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from jobs.clock import Clock, SystemClock
from jobs.config import Settings, load_settings
from jobs.db import Database, open_database
from jobs.errors import StoreError
from jobs.gateway import Gateway
from jobs.service import JobService, owner_id
from jobs.store import JobStore


@dataclass
class App:
    settings: Settings
    database: Database
    store: JobStore
    gateway: Gateway
    service: JobService

    def close(self) -> None:
        self.database.close()


def build_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    kind: str = "cli",
    gateway: Gateway | None = None,
) -> App:
    settings = settings or load_settings()
    database = open_database(settings.db_url)
    store = JobStore(database)
    gateway = gateway or Gateway(settings)
    service = JobService(store, gateway, clock or SystemClock(), settings, owner=owner_id(kind))
    # An interaction id that a dead process could not record is put back on its job first, so
    # every command shows it (a file check when there is none; a full store tries again later).
    with contextlib.suppress(StoreError):
        service.recovery.replay_spool()
    return App(settings, database, store, gateway, service)
