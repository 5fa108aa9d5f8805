"""What `jobs doctor` checks in a store, on each backend, and says it checked.

SQLite: `PRAGMA integrity_check` (every page, index and constraint of the file). PostgreSQL has no
such statement: the server keeps its pages consistent (and verifies them with data checksums, if
the cluster has them); what `jobs` checks there is that every table of ours reads back whole (a
sequential scan, which hits any unreadable page) and, where the `amcheck` extension is installed,
the structure of our B-tree indexes. On both, the rules of `jobs` itself are checked on the rows:
no result without its job, no terminal job holding a lease, no live job without its interaction id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from jobs.db import Database
from jobs.models import TERMINAL_STATUSES, JobStatus

_TABLES = ("jobs", "job_labels", "job_results", "job_events", "workers")
_TERMINAL = tuple(s.value for s in TERMINAL_STATUSES)
_NEEDS_ID = tuple(
    s.value
    for s in JobStatus
    if s.is_pollable and s not in (JobStatus.PENDING, JobStatus.SUBMITTING)
)

# (what the rule says, a query counting the rows that break it)
_RULES = (
    (
        "every result belongs to a job",
        "SELECT count(*) FROM job_results r LEFT JOIN jobs j ON j.id = r.job_id WHERE j.id IS NULL",
    ),
    (
        "no terminal job holds a lease",
        "SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL AND status IN :terminal",
    ),
    (
        "every job being polled has its interaction id",
        "SELECT count(*) FROM jobs WHERE interaction_id IS NULL AND status IN :needs_id",
    ),
)


@dataclass
class IntegrityReport:
    checked: list[str] = field(default_factory=list)  # what was checked, for the doctor's line
    problems: list[str] = field(default_factory=list)


class StoreHealth:
    def __init__(self, db: Database) -> None:
        self.db = db

    def integrity(self) -> IntegrityReport:
        report = IntegrityReport()
        with self.db.read() as session:
            connection = session.connection()
            if self.db.dialect == "sqlite":
                rows = [r[0] for r in connection.exec_driver_sql("PRAGMA integrity_check")]
                report.checked.append("PRAGMA integrity_check")
                if rows != ["ok"]:
                    report.problems.extend(rows[:5])
            else:
                total = 0
                for table in _TABLES:
                    # A full read of every row's every column (count(*) could use an index only).
                    total += connection.execute(
                        sa.text(f"SELECT count(*) FROM (SELECT t.*::text FROM {table} t) s")  # noqa: S608 - fixed names
                    ).scalar_one()
                report.checked.append(f"{len(_TABLES)} tables read in full ({total} rows)")
                report.checked.append(self._amcheck(connection, report))
            params = {"terminal": list(_TERMINAL), "needs_id": list(_NEEDS_ID)}
            for rule, query in _RULES:
                used = {k: v for k, v in params.items() if f":{k}" in query}
                statement = sa.text(query)
                for name in used:
                    statement = statement.bindparams(sa.bindparam(name, expanding=True))
                count = connection.execute(statement, used).scalar_one()
                if count:
                    report.problems.append(f"{count} row(s) break the rule: {rule}")
            report.checked.append(f"{len(_RULES)} rules of jobs on the rows")
        return report

    @staticmethod
    def _amcheck(connection: sa.Connection, report: IntegrityReport) -> str:
        installed = connection.exec_driver_sql(
            "SELECT 1 FROM pg_extension WHERE extname = 'amcheck'"
        ).first()
        if not installed:
            return "index structure not checked (the amcheck extension is not installed)"
        indexes = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
                "WHERE a.amname = 'btree' AND t.relname = ANY(%(tables)s)",
                {"tables": list(_TABLES)},
            )
        ]
        for oid in indexes:
            try:
                with connection.begin_nested():  # a failed check must not end the transaction
                    connection.exec_driver_sql("SELECT bt_index_check(%(oid)s)", {"oid": oid})
            except sa.exc.DBAPIError as exc:
                report.problems.append(f"index {oid}: {str(exc.orig).splitlines()[0]}")
        return f"{len(indexes)} B-tree indexes checked with amcheck"
