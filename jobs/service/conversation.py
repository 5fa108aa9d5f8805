"""Conversations: the chain of jobs linked by `previous_interaction_id`, as the web page sees it.

A conversation is the turns before a job (`JobService.chain`) and the follow-ups after it (oldest
child first, as `jobs show` prints it). A new message continues the conversation's last turn that
can still be continued: a turn that ended without completing has no answer to build on, so it is
passed over (the message continues the turn before it). A message sent while that turn is still
running is recorded `pending` and sent by the worker the moment its predecessor completes (the
runner's `--continue` rule, unchanged).
"""

from __future__ import annotations

from dataclasses import replace

from jobs.models import Job, JobStatus
from jobs.service.core import JobService, SubmitSpec

WRITER_WATCHES_FOR = 60.0  # seconds a message just written counts as watched (the page renews it)


def conversation(service: JobService, job_id: str) -> list[Job]:
    """Every turn of the conversation `job_id` belongs to, oldest first."""
    job = service.get_job(job_id)
    turns = service.chain(job)
    seen = {turn.id for turn in turns}
    current = job
    while True:
        children = [c for c in service.store.children_of(current.id) if c.id not in seen]
        if not children:
            return turns
        current = children[0]
        seen.add(current.id)
        turns.append(current)


def reply_target(service: JobService, job_id: str) -> Job | None:
    """The turn a new message of this conversation continues, or None (a new conversation)."""
    for turn in reversed(conversation(service, job_id)):
        status = turn.job_status
        if not status.is_terminal and status is not JobStatus.SUBMIT_UNKNOWN:
            return turn  # running or waiting: the new message waits for it
        if status is JobStatus.COMPLETED:
            return turn
    return None


def send_message(service: JobService, spec: SubmitSpec, *, after: str | None) -> Job:
    """Record (and, unless it must wait for its predecessor, send) the next message of the
    conversation that `after` belongs to; a new conversation when `after` is None."""
    parent = reply_target(service, after) if after else None
    job = service.submit_new(replace(spec, continue_job=parent.id if parent else None))
    # The person who wrote it is looking at the page: the worker streams it at once (a job
    # nobody watches that is already due for a poll is polled first, see TrackingStore).
    service.watch([job.id], seconds=WRITER_WATCHES_FOR)
    return job
