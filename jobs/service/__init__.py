"""Business rules: the one layer both faces (the CLI and the web page) and the worker call.

`core` holds the job rules of the first release (submit, poll, cancel, chain). New capabilities
(the event journal's follower, batches, schedules, notifications, usage and cost) get modules of
their own here, beneath or beside `JobService`, never importing the CLI or the web layer.
"""

from typing import Any

# Lazy, so that light modules here (prices, usage) are importable without the write side.
_LAZY = {
    "JOB_LABEL",
    "JobService",
    "PassReport",
    "SubmitSpec",
    "check_spec",
    "owner_id",
    "parse_labels",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from jobs.service import core

        return getattr(core, name)
    raise AttributeError(f"module 'jobs.service' has no attribute {name!r}")


__all__ = [
    "JOB_LABEL",
    "JobService",
    "PassReport",
    "SubmitSpec",
    "check_spec",
    "owner_id",
    "parse_labels",
]
