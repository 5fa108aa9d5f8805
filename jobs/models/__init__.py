"""The store's tables, one module per concern; importing this package registers them all.

`job` holds the jobs and what hangs off them (labels, results, history, workers). New capabilities
add their tables in a module of their own here and import it below, so Alembic's metadata and the
migration-parity test see every table.
"""

from jobs.models.events import InteractionEvent, JobWatch
from jobs.models.job import (
    POLLABLE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobEvent,
    JobLabel,
    JobResult,
    JobStatus,
    UTCDateTime,
    Worker,
    new_job_id,
)

__all__ = [
    "POLLABLE_STATUSES",
    "TERMINAL_STATUSES",
    "InteractionEvent",
    "Job",
    "JobEvent",
    "JobLabel",
    "JobResult",
    "JobStatus",
    "JobWatch",
    "UTCDateTime",
    "Worker",
    "new_job_id",
]
