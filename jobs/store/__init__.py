"""Every query the runner makes, one module per concern.

`jobs` is the write side for jobs: leases, compare-and-set transitions, terminal writes. New
concerns (the event journal, batches and schedules, read-only listings and reports) get modules of
their own beside it, so the read path can stay cheap to import.
"""

from jobs.store.events import EventStore, ReceivedEvent, StoredEvent
from jobs.store.jobs import JobFilter, JobStore, TerminalResult, validate_sort_key

__all__ = [
    "EventStore",
    "ReceivedEvent",
    "StoredEvent",
    "JobFilter",
    "JobStore",
    "TerminalResult",
    "validate_sort_key",
]
