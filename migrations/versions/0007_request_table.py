"""The request of a job in its own table, written once; SQLite search indexes it without a copy.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

`jobs.request_json` moves to `job_requests(job_id, request_json)`. On SQLite any update of a row
rewrites the whole row with its overflow pages: with the request in `jobs`, each change of a job's
status (queued, in progress, every poll, lease, the terminal write) wrote a 50 MB prompt again.

SQLite search (migration 0005 made it): the FTS5 table `job_search` kept its own copy of every
prompt and output (a second 50 MB), and writing an output indexed the job's prompt again. It
becomes an external-content table over the view `job_search_source`, so it holds only the index
(`snippet()` reads the text through the view), with two rows a job (`job_search_rows`): the
prompt's (from `job_requests`) and the output's (from `job_results`), so a terminal write indexes
the output alone. A search matches all its terms in the prompt or all in the output, as on
PostgreSQL. An external-content index must be told the exact values it indexed when they change,
so the triggers below keep this invariant: every `job_search_rows` row has one index entry, whose
values are what the view shows for it now. A later migration that rebuilds `jobs`, `job_requests` or `job_results` in batch mode must call
`drop_sqlite_search` first and `install_sqlite_search` after (SQLite refuses to rename a table
that a view names while it is missing).

PostgreSQL: the GIN index of the prompt moves with the column (`ix_job_requests_search`); the
queries in store/queries.py use the same expression.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The prompt of a job_requests row: the `input` as sent when it is text, its JSON otherwise.
_PROMPT = (
    "CASE WHEN json_valid({r}.request_json)"
    " THEN coalesce(json_extract({r}.request_json, '$.input'), '') ELSE '' END"
)
# The index row of a job's prompt ('p') or output ('o').
_ROW = "(SELECT id FROM job_search_rows WHERE job_id = {job} AND part = '{part}')"
_PROMPT_NOW = (
    f"coalesce((SELECT {_PROMPT.format(r='q')} FROM job_requests q WHERE q.job_id = {{job}}), '')"
)
_OUTPUT_NOW = "coalesce((SELECT output_text FROM job_results r WHERE r.job_id = {job}), '')"


def _replace(job: str, part: str, old: str, new: str) -> str:
    """Statements that swap the index entry of a job's prompt or output from `old` to `new`."""
    row = _ROW.format(job=job, part=part)
    values = ("{}, ''" if part == "p" else "'', {}").format
    return (
        " INSERT INTO job_search(job_search, rowid, prompt, output)"
        f" SELECT 'delete', {row}, {values(old)} WHERE {row} IS NOT NULL;"
        " INSERT INTO job_search(rowid, prompt, output)"
        f" SELECT {row}, {values(new)} WHERE {row} IS NOT NULL;"
    )


SQLITE_SEARCH_DDL = (
    # Two index rows a job: its prompt and its output, so that writing the output (with the
    # terminal status) never indexes the prompt again.
    "CREATE TABLE IF NOT EXISTS job_search_rows ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " job_id VARCHAR(16) NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " part CHAR(1) NOT NULL, UNIQUE (job_id, part))",
    "CREATE VIEW IF NOT EXISTS job_search_source AS"
    " SELECT s.id AS id,"
    f" CASE WHEN s.part = 'p' THEN {_PROMPT_NOW.format(job='s.job_id')} ELSE '' END AS prompt,"
    f" CASE WHEN s.part = 'o' THEN {_OUTPUT_NOW.format(job='s.job_id')} ELSE '' END AS output"
    " FROM job_search_rows s",
    "CREATE VIRTUAL TABLE IF NOT EXISTS job_search USING fts5(prompt, output,"
    " content = 'job_search_source', content_rowid = 'id',"
    " tokenize = 'unicode61 remove_diacritics 2')",
    # A new job: its rows, and their (empty) entries, as the view shows them before its request.
    "CREATE TRIGGER IF NOT EXISTS job_search_jobs_ai AFTER INSERT ON jobs BEGIN"
    " INSERT OR IGNORE INTO job_search_rows(job_id, part) VALUES (new.id, 'p'), (new.id, 'o');"
    " INSERT INTO job_search(rowid, prompt, output)"
    " SELECT id, '', '' FROM job_search_rows WHERE job_id = new.id;"
    " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_jobs_bd BEFORE DELETE ON jobs BEGIN"
    " INSERT INTO job_search(job_search, rowid, prompt, output)"
    f" SELECT 'delete', s.id, CASE WHEN s.part = 'p' THEN {_PROMPT_NOW.format(job='old.id')}"
    f" ELSE '' END, CASE WHEN s.part = 'o' THEN {_OUTPUT_NOW.format(job='old.id')} ELSE '' END"
    " FROM job_search_rows s WHERE s.job_id = old.id;"
    " DELETE FROM job_search_rows WHERE job_id = old.id;"
    " END",
    # The request, inserted with the job. A text prompt (its digest recorded) is indexed by the
    # store itself from the text it has (JobStore, index_prompt): SQLite's json_extract of a 50 MB
    # request costs 2-3 times its size in memory. Any other input is indexed here.
    "CREATE TRIGGER IF NOT EXISTS job_search_requests_ai AFTER INSERT ON job_requests"
    " WHEN new.input_sha256 IS NULL BEGIN"
    + _replace("new.job_id", "p", "''", _PROMPT.format(r="new"))
    + " END",
    # Rewritten only when the body changes at send time (rare).
    "CREATE TRIGGER IF NOT EXISTS job_search_requests_au AFTER UPDATE OF request_json"
    " ON job_requests BEGIN"
    + _replace("new.job_id", "p", _PROMPT.format(r="old"), _PROMPT.format(r="new"))
    + " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_requests_ad AFTER DELETE ON job_requests BEGIN"
    + _replace("old.job_id", "p", _PROMPT.format(r="old"), "''")
    + " END",
    # The output arrives with the terminal status (session.merge: an insert, or an update).
    "CREATE TRIGGER IF NOT EXISTS job_search_results_ai AFTER INSERT ON job_results BEGIN"
    + _replace("new.job_id", "o", "''", "new.output_text")
    + " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_results_au AFTER UPDATE OF output_text"
    " ON job_results BEGIN"
    + _replace("new.job_id", "o", "old.output_text", "new.output_text")
    + " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_results_ad AFTER DELETE ON job_results BEGIN"
    + _replace("old.job_id", "o", "old.output_text", "''")
    + " END",
)

# JobStore indexes a text prompt itself, right after inserting its request (store/jobs.py,
# _INDEX_PROMPT): the entry it writes is what the view shows (json_extract of the same JSON).

_SEARCH_TRIGGERS = (
    "job_search_results_ad",
    "job_search_results_au",
    "job_search_results_ai",
    "job_search_requests_ad",
    "job_search_requests_au",
    "job_search_requests_ai",
    "job_search_jobs_bd",
    "job_search_jobs_au",  # migration 0005's (the request was in `jobs` then)
    "job_search_jobs_ai",
)

# PostgreSQL: kept identical to store/queries.py (PG_PROMPT_DOC), or the index goes unused.
PG_PROMPT_DOC = "to_tsvector('english'::regconfig, coalesce(request_json::jsonb ->> 'input', ''))"


def drop_sqlite_search(connection: sa.Connection) -> None:
    """Drop the triggers, the FTS table, the view and the row table (and migration 0005's key
    table, whose triggers these replace)."""
    for trigger in _SEARCH_TRIGGERS:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in (
        "DROP TABLE IF EXISTS job_search",
        "DROP VIEW IF EXISTS job_search_source",
        "DROP TABLE IF EXISTS job_search_rows",
        "DROP TABLE IF EXISTS job_search_keys",
    ):
        connection.exec_driver_sql(statement)


def install_sqlite_search(connection: sa.Connection) -> None:
    """Create (if missing) the rows, the view, the FTS table and its triggers; index every job."""
    for statement in SQLITE_SEARCH_DDL:
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql(
        "INSERT OR IGNORE INTO job_search_rows(job_id, part)"
        " SELECT id, part FROM jobs, (SELECT 'p' AS part UNION ALL SELECT 'o')"
        " ORDER BY created_at, id, part DESC"
    )
    # Reads the view: the index then holds exactly what the view shows, the triggers' invariant.
    connection.exec_driver_sql("INSERT INTO job_search(job_search) VALUES ('rebuild')")


def _migration_0005():
    """Migration 0005's module (its search DDL), loaded by path: revision files are no package."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("0005_usage.py")
    spec = importlib.util.spec_from_file_location("jobs_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.create_table(
        "job_requests",
        sa.Column("job_id", sa.String(16), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=True),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_requests_job_id_jobs", ondelete="CASCADE"
        ),
    )
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        drop_sqlite_search(connection)  # its triggers name jobs.request_json
    elif connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_jobs_search")
    op.execute("INSERT INTO job_requests (job_id, request_json) SELECT id, request_json FROM jobs")
    if sqlite:
        # SQLite >= 3.35 drops a column in place (Alembic would rebuild the table, and SQLite
        # cannot rename a table back while the search view names it).
        connection.exec_driver_sql("ALTER TABLE jobs DROP COLUMN request_json")
        install_sqlite_search(connection)
    else:
        op.drop_column("jobs", "request_json")
        if connection.dialect.name == "postgresql":
            op.execute(
                f"CREATE INDEX ix_job_requests_search ON job_requests USING gin ({PG_PROMPT_DOC})"
            )


def downgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        drop_sqlite_search(connection)
        connection.exec_driver_sql(
            "ALTER TABLE jobs ADD COLUMN request_json TEXT NOT NULL DEFAULT '{}'"
        )
    else:
        op.execute("DROP INDEX IF EXISTS ix_job_requests_search")
        op.add_column(
            "jobs", sa.Column("request_json", sa.Text(), nullable=False, server_default="{}")
        )
        op.alter_column("jobs", "request_json", server_default=None)
    op.execute(
        "UPDATE jobs SET request_json = (SELECT q.request_json FROM job_requests q"
        " WHERE q.job_id = jobs.id) WHERE id IN (SELECT job_id FROM job_requests)"
    )
    op.drop_table("job_requests")
    old = _migration_0005()
    if sqlite:
        old.install_sqlite_search(connection)
    elif connection.dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_jobs_search ON jobs USING gin ({old.PG_PROMPT_DOC})")
