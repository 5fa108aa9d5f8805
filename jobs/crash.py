"""Named crash points, for the crash-safety tests.

`JOBS_CRASH_AT=submit.after_create` makes the process SIGKILL itself when it reaches that point, so a
subprocess test can prove that no job is lost or paid for twice whatever instant a process dies at.
Reading one environment variable is the whole cost when unset.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "submit.before_create",  # job is `submitting`, nothing sent yet
    "submit.after_create",  # the API created the interaction; its id is not stored yet
    "submit.group_claimed",  # a batch claimed its next lines (`submitting`), none of them sent
    "poll.after_get",  # a terminal reply is in memory, not stored yet
    "store.terminal_uncommitted",  # inside the terminal write transaction, before commit
    "cancel.after_send",  # the remote cancel was sent; the result is not stored yet
)


def crash_point(name: str) -> None:
    target = os.environ.get("JOBS_CRASH_AT")
    if target and target == name:
        os.kill(os.getpid(), signal.SIGKILL)
