"""The store's tables, one module per concern; importing this package registers them all.

`job` holds the jobs and what hangs off them (labels, results, history, workers). New capabilities
add their tables in a module of their own here and import it below, so Alembic's metadata and the
migration-parity test see every table.
"""

from jobs.models.batches import (
    Batch,
    BatchLine,
    FiringState,
    MissedPolicy,
    Notification,
    NotifyState,
    OverlapPolicy,
    Schedule,
    ScheduleFiring,
)
from jobs.models.events import InteractionEvent, JobWatch
from jobs.models.job import (
    POLLABLE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobEvent,
    JobLabel,
    JobRequest,
    JobResult,
    JobStatus,
    RequestNotLoaded,
    UTCDateTime,
    Worker,
    new_job_id,
)
from jobs.models.usage import Budget, JobUsage
from jobs.models.webhooks import WebhookDelivery

__all__ = [
    "Batch",
    "BatchLine",
    "FiringState",
    "MissedPolicy",
    "Notification",
    "NotifyState",
    "OverlapPolicy",
    "Schedule",
    "ScheduleFiring",
    "Budget",
    "JobUsage",
    "POLLABLE_STATUSES",
    "TERMINAL_STATUSES",
    "InteractionEvent",
    "Job",
    "JobEvent",
    "JobLabel",
    "JobRequest",
    "JobResult",
    "RequestNotLoaded",
    "JobStatus",
    "JobWatch",
    "UTCDateTime",
    "WebhookDelivery",
    "Worker",
    "new_job_id",
]
