"""Business rules: the one layer both faces (the CLI and the web page) and the worker call.

`core` holds the job rules of the first release (submit, poll, cancel, chain). New capabilities
(the event journal's follower, batches, schedules, notifications, usage and cost) get modules of
their own here, beneath or beside `JobService`, never importing the CLI or the web layer.
"""

from jobs.service.core import (
    JOB_LABEL,
    JobService,
    PassReport,
    SubmitSpec,
    check_spec,
    owner_id,
    parse_labels,
)

__all__ = [
    "JOB_LABEL",
    "JobService",
    "PassReport",
    "SubmitSpec",
    "check_spec",
    "owner_id",
    "parse_labels",
]
