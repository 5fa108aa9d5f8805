"""Batches, schedules and notifications against the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter

import pytest


def jsonl(prompts) -> bytes:
    return "".join(json.dumps(p) + "\n" for p in prompts).encode()


def creates_by_job(stats) -> Counter:
    prefix = "jobs-id="
    return Counter(
        {k[len(prefix) :]: v for k, v in stats["creates_by_label"].items() if k.startswith(prefix)}
    )


@pytest.fixture
def db_service(make_service, make_settings, database_url):
    """A service on each backend (SQLite file, fresh PostgreSQL database)."""

    def make(owner: str = "test-worker", **overrides):
        return make_service(make_settings(db_url=database_url, **overrides), owner=owner)

    return make
