"""Every query the runner makes, one module per concern.

`jobs` is the write side for jobs: leases, compare-and-set transitions, terminal writes. New
concerns (the event journal, batches and schedules, read-only listings and reports) get modules of
their own beside it, so the read path can stay cheap to import.
"""

from typing import Any

# Lazy, so that `jobs.store.queries` (the read path) can be imported without SQLAlchemy.
_LAZY = {
    "JobFilter": "jobs",
    "JobStore": "jobs",
    "TerminalResult": "jobs",
    "validate_sort_key": "jobs",
    "EventStore": "events",
    "ReceivedEvent": "events",
    "StoredEvent": "events",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"jobs.store.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'jobs.store' has no attribute {name!r}")


__all__ = [
    "EventStore",
    "ReceivedEvent",
    "StoredEvent",
    "JobFilter",
    "JobStore",
    "TerminalResult",
    "validate_sort_key",
]
