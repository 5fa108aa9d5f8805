"""Shell completion of values (click's completion does commands and options): job ids, statuses.

Completion runs on every Tab press, so it only reads: it opens an existing store without migrating
it, never creates one, and offers nothing (rather than an error) when the store cannot be read.
"""

from __future__ import annotations

import contextlib

import click
from click.shell_completion import CompletionItem

from jobs.models import JobStatus

LATEST = "@last"


def complete_job_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    items: list[CompletionItem] = []
    if LATEST.startswith(incomplete):
        items.append(CompletionItem(LATEST, help="the newest job"))
    with contextlib.suppress(Exception):  # completion must never print an error or a traceback
        items += [
            CompletionItem(job_id, help=f"{status}  {excerpt[:50]}")
            for job_id, status, excerpt in _recent_jobs(incomplete)
        ]
    return items


def _recent_jobs(prefix: str) -> list[tuple[str, str, str]]:
    from jobs.config import load_settings
    from jobs.db import _sqlite_file, make_url, open_database
    from jobs.store import JobStore

    url = load_settings().db_url
    path = _sqlite_file(make_url(url))
    if path is not None and not path.is_file():
        return []  # no store yet: do not create one from a Tab press
    database = open_database(url, migrate=False)
    try:
        return JobStore(database).job_ids(prefix, limit=50)
    finally:
        database.close()


def complete_status(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """`--status` takes a comma-separated list: complete its last item."""
    done, _, last = incomplete.rpartition(",")
    head = f"{done}," if done else ""
    return [CompletionItem(head + s.value) for s in JobStatus if s.value.startswith(last)]
