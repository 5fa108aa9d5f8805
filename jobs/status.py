"""Job statuses and ids: no database imports, so the read path (`jobs list`) stays cheap.

`jobs.models` re-exports all of this; the tables themselves live in `jobs.models.job`.
"""

from __future__ import annotations

import secrets
from enum import StrEnum


class JobStatus(StrEnum):
    """Our status of a job: the API's own statuses plus the runner's.

    The raw remote status is always stored beside it (`Job.remote_status`); `from_remote` is the one
    place that maps one to the other.
    """

    PENDING = "pending"  # recorded, not sent yet: waits for a predecessor or a retry delay
    SUBMITTING = "submitting"  # a create call is (or was) in flight
    SUBMIT_UNKNOWN = "submit_unknown"  # the submitter died mid-create: it may exist remotely
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = (
        "requires_action"  # paused: the API waits for the user (function calls, plans)
    )
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INCOMPLETE = "incomplete"  # terminal, with partial output (e.g. max_output_tokens)
    BUDGET_EXCEEDED = "budget_exceeded"
    EXPIRED = "expired"  # the API forgot it (retention) before we saved any output
    UNKNOWN = "unknown"  # a status we do not know, or a malformed reply: polled on, kept visible

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_pollable(self) -> bool:
        """Has an interaction id and is worth asking the API about."""
        return self in POLLABLE_STATUSES

    @classmethod
    def from_remote(cls, remote_status: str | None) -> JobStatus:
        """Map the API's open-enum status to ours; anything unexpected is UNKNOWN, never an error."""
        if remote_status in _REMOTE_STATUSES:
            return cls(remote_status)
        return cls.UNKNOWN


TERMINAL_STATUSES = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
        JobStatus.INCOMPLETE,
        JobStatus.BUDGET_EXCEEDED,
        JobStatus.EXPIRED,
    }
)
POLLABLE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.IN_PROGRESS, JobStatus.REQUIRES_ACTION, JobStatus.UNKNOWN}
)
_REMOTE_STATUSES = {
    "queued",
    "in_progress",
    "requires_action",
    "completed",
    "failed",
    "cancelled",
    "incomplete",
    "budget_exceeded",
}

# People type these: no 0/o, 1/l/i.
_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def new_job_id(length: int = 6) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))
