"""Which jobs changed lately: what a live jobs panel asks for a few times a second.

Every change of a job's state (recorded, submitted, a new status, terminal, cancel requested) adds a
row to its history (`job_events`, autoincrement id) in the same transaction as the change. So
"what changed since I last looked" is one indexed range query on that id: no polling of the whole
`jobs` table, whatever its size.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from jobs.db import Database
from jobs.models import Job, JobEvent


class JobActivity:
    def __init__(self, db: Database) -> None:
        self.db = db

    def last_change(self) -> int:
        """The newest history row's id (0 for an empty store): a cursor for `changed_since`."""
        with self.db.read() as session:
            return int(session.exec(select(sa.func.max(JobEvent.id))).one() or 0)

    def changed_since(self, cursor: int, *, limit: int = 500) -> tuple[int, list[str]]:
        """The new cursor and the ids of the jobs whose history grew after `cursor` (oldest change
        first, each id once). At most `limit` rows are read; call again until nothing comes."""
        with self.db.read() as session:
            rows = list(
                session.exec(
                    select(JobEvent.id, JobEvent.job_id)
                    .where(JobEvent.id > cursor)  # type: ignore[operator]
                    .order_by(JobEvent.id)  # type: ignore[arg-type]
                    .limit(limit)
                )
            )
        if not rows:
            return cursor, []
        ids = list(dict.fromkeys(job_id for _, job_id in rows))
        return int(rows[-1][0]), ids

    def jobs(self, job_ids: list[str]) -> list[Job]:
        """These jobs (those that still exist), without their large request column."""
        if not job_ids:
            return []
        with self.db.read() as session:
            query = select(Job).where(Job.id.in_(job_ids))  # type: ignore[attr-defined]
            return list(session.exec(query))
