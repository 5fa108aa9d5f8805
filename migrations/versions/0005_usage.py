"""Usage and cost: per-job usage facts, budgets, full-text search over prompts and outputs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Search:
- SQLite: an FTS5 table `job_search(prompt, output)` whose rowid is `job_search_keys.id` (a jobs row
  has a text key, and SQLite may renumber the implicit rowid of such a table on VACUUM). Triggers on
  `jobs` and `job_results` keep it in step inside the very transaction that writes the job, so a
  search never sees a job without its text or the text of a deleted job. Existing jobs are indexed
  here. `install_sqlite_search` is idempotent: a later migration that rebuilds `jobs` or
  `job_results` in batch mode (which drops their triggers) must call it again.
- PostgreSQL: GIN indexes on `to_tsvector('english', ...)` of the prompt and of the output; the
  queries in store/queries.py use the same expressions, so the planner uses the indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The prompt as sent (`input` of the create body); the excerpt if the JSON cannot be read.
_SQLITE_PROMPT = (
    "CASE WHEN json_valid({r}.request_json) AND json_type({r}.request_json, '$.input') = 'text' "
    "THEN json_extract({r}.request_json, '$.input') ELSE {r}.prompt_excerpt END"
)
_KEY = "(SELECT id FROM job_search_keys WHERE job_id = {r}.{col})"

SQLITE_SEARCH_DDL = (
    "CREATE TABLE IF NOT EXISTS job_search_keys ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " job_id VARCHAR(16) NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS job_search USING fts5("
    "prompt, output, tokenize = 'unicode61 remove_diacritics 2')",
    # A new job: its key and its prompt.
    "CREATE TRIGGER IF NOT EXISTS job_search_jobs_ai AFTER INSERT ON jobs BEGIN"
    " INSERT OR IGNORE INTO job_search_keys(job_id) VALUES (new.id);"
    f" INSERT INTO job_search(rowid, prompt, output) VALUES ({_KEY.format(r='new', col='id')},"
    f" {_SQLITE_PROMPT.format(r='new')}, '');"
    " END",
    # The create body is rewritten when sent (labels); the prompt stays, but keep them in step.
    "CREATE TRIGGER IF NOT EXISTS job_search_jobs_au AFTER UPDATE OF request_json ON jobs BEGIN"
    f" UPDATE job_search SET prompt = {_SQLITE_PROMPT.format(r='new')}"
    f" WHERE rowid = {_KEY.format(r='new', col='id')};"
    " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_jobs_bd BEFORE DELETE ON jobs BEGIN"
    f" DELETE FROM job_search WHERE rowid = {_KEY.format(r='old', col='id')};"
    " DELETE FROM job_search_keys WHERE job_id = old.id;"
    " END",
    # The output arrives with the terminal status (session.merge: an insert, or an update).
    "CREATE TRIGGER IF NOT EXISTS job_search_results_ai AFTER INSERT ON job_results BEGIN"
    " UPDATE job_search SET output = new.output_text"
    f" WHERE rowid = {_KEY.format(r='new', col='job_id')};"
    " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_results_au AFTER UPDATE OF output_text ON job_results"
    " BEGIN"
    " UPDATE job_search SET output = new.output_text"
    f" WHERE rowid = {_KEY.format(r='new', col='job_id')};"
    " END",
    "CREATE TRIGGER IF NOT EXISTS job_search_results_ad AFTER DELETE ON job_results BEGIN"
    " UPDATE job_search SET output = ''"
    f" WHERE rowid = {_KEY.format(r='old', col='job_id')};"
    " END",
)

# Index what is already there (a store made before this revision); a no-op on a blank one.
SQLITE_BACKFILL = (
    "INSERT OR IGNORE INTO job_search_keys(job_id) SELECT id FROM jobs ORDER BY created_at",
    "INSERT INTO job_search(rowid, prompt, output)"
    f" SELECT k.id, {_SQLITE_PROMPT.format(r='j')}, coalesce(r.output_text, '')"
    " FROM jobs j JOIN job_search_keys k ON k.job_id = j.id"
    " LEFT JOIN job_results r ON r.job_id = j.id"
    " WHERE k.id NOT IN (SELECT rowid FROM job_search)",
)

SQLITE_SEARCH_DROP = (
    "DROP TRIGGER IF EXISTS job_search_results_ad",
    "DROP TRIGGER IF EXISTS job_search_results_au",
    "DROP TRIGGER IF EXISTS job_search_results_ai",
    "DROP TRIGGER IF EXISTS job_search_jobs_bd",
    "DROP TRIGGER IF EXISTS job_search_jobs_au",
    "DROP TRIGGER IF EXISTS job_search_jobs_ai",
    "DROP TABLE IF EXISTS job_search",
    "DROP TABLE IF EXISTS job_search_keys",
)

# Kept identical to store/queries.py (PG_PROMPT_DOC / PG_OUTPUT_DOC), or the indexes go unused.
PG_PROMPT_DOC = "to_tsvector('english'::regconfig, coalesce(request_json::jsonb ->> 'input', ''))"
PG_OUTPUT_DOC = "to_tsvector('english'::regconfig, output_text)"


# job_usage for jobs that ended before this revision: the tier the API echoed, the search calls.
# Guarded, so an odd stored value (grounding_tool_count not a list) gives NULL, never an error.
SQLITE_USAGE_BACKFILL = (
    "INSERT INTO job_usage (job_id, service_tier, search_calls)"
    " SELECT r.job_id,"
    "  CASE WHEN json_valid(r.raw_json) AND json_type(r.raw_json, '$.service_tier') = 'text'"
    "   THEN json_extract(r.raw_json, '$.service_tier') END,"
    "  CASE WHEN json_valid(r.usage_json)"
    "   AND json_type(r.usage_json, '$.grounding_tool_count') = 'array'"
    "   THEN (SELECT sum(CASE WHEN json_type(g.value, '$.count') = 'integer'"
    "     THEN json_extract(g.value, '$.count') ELSE 0 END)"
    "    FROM json_each(r.usage_json, '$.grounding_tool_count') g WHERE g.type = 'object') END"
    " FROM job_results r WHERE r.job_id NOT IN (SELECT job_id FROM job_usage)"
)


def _pg_usage_backfill(connection: sa.Connection) -> None:
    """The same on PostgreSQL, parsed here: PostgreSQL 15 has no safe cast of text to json, and one
    malformed stored value must not stop the upgrade. The tier is matched as text in raw_json (which
    can be large), usage_json (small) is parsed; rows are inserted in batches."""
    import json

    result = connection.execute(
        sa.text(
            "SELECT job_id, usage_json,"
            ' substring(raw_json from \'"service_tier"\\s*:\\s*"([A-Za-z_-]+)"\')'
            " FROM job_results WHERE job_id NOT IN (SELECT job_id FROM job_usage)"
        )
    )
    insert = sa.text(
        "INSERT INTO job_usage (job_id, service_tier, search_calls) VALUES (:job_id, :tier, :calls)"
    )
    batch: list[dict] = []
    for job_id, usage_json, tier in result.all():  # small values; raw_json stays on the server
        try:
            counts = json.loads(usage_json or "{}").get("grounding_tool_count")
        except (ValueError, AttributeError):
            counts = None
        calls = None
        if isinstance(counts, list):
            calls = sum(
                item["count"]
                for item in counts
                if isinstance(item, dict)
                and isinstance(item.get("count"), int)
                and not isinstance(item.get("count"), bool)
            )
        batch.append({"job_id": job_id, "tier": tier, "calls": calls})
        if len(batch) >= 1000:
            connection.execute(insert, batch)
            batch = []
    if batch:
        connection.execute(insert, batch)


def install_sqlite_search(connection: sa.Connection) -> None:
    """Create (if missing) the FTS table, its key table and triggers, and index existing jobs."""
    for statement in SQLITE_SEARCH_DDL + SQLITE_BACKFILL:
        connection.exec_driver_sql(statement)


def upgrade() -> None:
    op.create_table(
        "job_usage",
        sa.Column("job_id", sa.String(16), nullable=False),
        sa.Column("service_tier", sa.String(32), nullable=True),
        sa.Column("search_calls", sa.Integer(), nullable=True),
        sa.Column("live_input_tokens", sa.Integer(), nullable=True),
        sa.Column("live_output_tokens", sa.Integer(), nullable=True),
        sa.Column("live_thought_tokens", sa.Integer(), nullable=True),
        sa.Column("live_cached_tokens", sa.Integer(), nullable=True),
        sa.Column("live_tool_use_tokens", sa.Integer(), nullable=True),
        sa.Column("live_total_tokens", sa.Integer(), nullable=True),
        sa.Column("live_search_calls", sa.Integer(), nullable=True),
        sa.Column("live_source", sa.String(32), nullable=True),
        sa.Column("live_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_usage_job_id_jobs", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "budgets",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.String(128), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.Column("max_cost_usd", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tripped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tripped_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "ref_id"),
    )
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(SQLITE_USAGE_BACKFILL)
        install_sqlite_search(connection)
    elif connection.dialect.name == "postgresql":
        _pg_usage_backfill(connection)
        op.execute(f"CREATE INDEX ix_jobs_search ON jobs USING gin ({PG_PROMPT_DOC})")
        op.execute(f"CREATE INDEX ix_job_results_search ON job_results USING gin ({PG_OUTPUT_DOC})")


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_SEARCH_DROP:
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_job_results_search")
        op.execute("DROP INDEX IF EXISTS ix_jobs_search")
    op.drop_table("budgets")
    op.drop_table("job_usage")
