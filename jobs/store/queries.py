"""The read side: listings, full-text search, usage aggregates and export rows. Cheap to import.

`jobs list` used to spend most of its time importing SQLAlchemy and SQLModel. Reads of a SQLite store
here go through the standard library's sqlite3 instead (the same file, the same WAL; reads take no
write lock); only PostgreSQL (or a store that must first be created or migrated) brings SQLAlchemy
in, through `jobs.db`. The SQL is written once with `:name` parameters, which both sqlite3 and
SQLAlchemy's text() accept; the few dialect-specific fragments (search, date buckets) are chosen per
backend. Rows come back as `JobRow`, a light record with the attributes of `jobs.models.Job` that
listings and renderers use. Nothing here writes.

Iterating (`iter_export`) streams: sqlite3 cursors step through the result, and PostgreSQL uses a
server-side cursor (`stream_results`), so memory stays flat however many jobs there are.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs.schema import SCHEMA_HEAD
from jobs.status import JobStatus

# Listing columns: everything in `jobs` (the create body, which can be large, is in job_requests).
JOB_COLUMNS = (
    "id", "interaction_id", "model", "agent", "prompt_excerpt", "labels_json",
    "previous_interaction_id", "parent_job_id", "status", "remote_status", "created_at",
    "submitted_at", "remote_created_at", "remote_updated_at", "finished_at", "last_polled_at",
    "next_poll_at", "poll_count", "submit_attempts", "consecutive_errors", "error_code",
    "error_message", "lease_owner", "lease_expires_at", "cancel_requested_at", "cancel_sent_at",
    "input_tokens", "output_tokens", "thought_tokens", "cached_tokens", "tool_use_tokens",
    "total_tokens", "output_chars",
)  # fmt: skip
_TIME_COLUMNS = frozenset(c for c in JOB_COLUMNS if c.endswith("_at"))
TOKEN_KINDS = ("input", "output", "thought", "cached", "tool_use", "total")

# Markers around highlighted search terms in excerpts (control characters never stored by us).
HL_START, HL_END = "\x02", "\x03"

# Kept identical to the expression indexes of migrations 0007 (job_requests) and 0005 (job_results),
# or PostgreSQL ignores them.
PG_PROMPT_DOC = (
    "to_tsvector('english'::regconfig, coalesce(rq.request_json::jsonb ->> 'input', ''))"
)
PG_OUTPUT_DOC = "to_tsvector('english'::regconfig, r.output_text)"


class JobRow:
    """A jobs row as read for listing: the attributes of models.Job that readers use."""

    __slots__ = JOB_COLUMNS

    def __init__(self, values: Sequence[Any]) -> None:
        for name, value in zip(JOB_COLUMNS, values, strict=False):
            if name in _TIME_COLUMNS:
                value = _as_datetime(value)
            object.__setattr__(self, name, value)

    @property
    def job_status(self) -> JobStatus:
        return JobStatus(self.status)

    @property
    def target(self) -> str:
        return self.agent or self.model or ""

    def __repr__(self) -> str:
        return f"JobRow({self.id!r}, {self.status!r})"


@dataclass
class ListFilter:
    statuses: Sequence[str] = ()
    labels: dict[str, str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    job_ids: Sequence[str] | None = None
    batch_id: str | None = None  # only this batch's lines, in file order


@dataclass
class SearchHit:
    job: JobRow
    rank: float
    excerpt: str  # with HL_START / HL_END around the matched terms


@dataclass
class UsageCell:
    """The sums of one (group, target, tier, day, context bucket): what pricing works on."""

    group: str
    target: str
    service_tier: str
    day: str  # YYYY-MM-DD (UTC) of the jobs' creation: the date a price is looked up at
    context_bucket: int  # index into the thresholds passed to usage_cells (0: below all)
    jobs: int
    with_usage: int  # how many of those jobs have recorded usage
    tokens: dict[str, int] = field(default_factory=dict)
    search_calls: int = 0


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///...` URL, parsed without SQLAlchemy; None otherwise."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if not rest or rest == ":memory:" or "?" in rest or rest.startswith("file:"):
                return None
            return Path(rest).expanduser()
    return None


def fts_query(text: str) -> str:
    """User text to an FTS5 query: "quoted phrases" match as phrases, other words match words that
    start with them (`seco` finds "second"), all required; FTS5's own syntax (AND, NEAR, column
    filters) is not interpreted."""
    parts = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', text):
        term = (phrase or word).replace('"', '""').strip()
        if term:
            parts.append(f'"{term}"' if phrase else f'"{term}"*')
    return " ".join(parts)


def pg_tsquery(text: str, params: dict[str, Any]) -> str | None:
    """The same rules as `fts_query`, as a PostgreSQL tsquery expression (parameters added)."""
    parts = []
    words = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', text):
        if phrase.strip():
            name = f"ph{len(parts)}"
            params[name] = phrase
            parts.append(f"phraseto_tsquery('english'::regconfig, :{name})")
        elif word:
            # Each word a quoted lexeme with a prefix match; to_tsquery normalises (stems) it.
            cleaned = re.sub(r"[^\w]+", " ", word).split()
            words += [f"'{w.replace(chr(39), chr(39) * 2)}':*" for w in cleaned]
    if words:
        params["words"] = " & ".join(words)
        parts.append("to_tsquery('english'::regconfig, :words)")
    return " && ".join(parts) if parts else None


class Queries:
    """Read-only queries over one store. Use `open_queries`; close() when done."""

    def __init__(self, dialect: str, execute: Callable[..., Iterator[Sequence[Any]]], close):
        self.dialect = dialect
        self._execute = execute
        self._close = close

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Queries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building blocks ---------------------------------------------------------------------------

    def _time(self, moment: datetime) -> Any:
        moment = moment.astimezone(UTC)
        # SQLAlchemy stores SQLite datetimes as naive UTC text in this format; compare as text.
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == "sqlite" else moment

    def _where(self, filt: ListFilter, params: dict[str, Any]) -> str:
        clauses = ["1 = 1"]
        if filt.statuses:
            names = []
            for i, status in enumerate(filt.statuses):
                params[f"st{i}"] = status
                names.append(f":st{i}")
            clauses.append(f"j.status IN ({', '.join(names)})")
        for i, (key, value) in enumerate((filt.labels or {}).items()):
            params[f"lk{i}"], params[f"lv{i}"] = key, value
            clauses.append(
                "EXISTS (SELECT 1 FROM job_labels l WHERE l.job_id = j.id"
                f" AND l.key = :lk{i} AND l.value = :lv{i})"
            )
        if filt.since is not None:
            params["since"] = self._time(filt.since)
            clauses.append("j.created_at >= :since")
        if filt.until is not None:
            params["until"] = self._time(filt.until)
            clauses.append("j.created_at < :until")
        if filt.job_ids is not None:
            names = []
            for i, job_id in enumerate(filt.job_ids):
                params[f"id{i}"] = job_id
                names.append(f":id{i}")
            clauses.append(f"j.id IN ({', '.join(names) or 'NULL'})")
        if filt.batch_id is not None:
            params["batch"] = filt.batch_id
            clauses.append(
                "EXISTS (SELECT 1 FROM batch_lines b WHERE b.job_id = j.id AND b.batch_id = :batch)"
            )
        return " AND ".join(clauses)

    @staticmethod
    def _columns(alias: str = "j") -> str:
        return ", ".join(f"{alias}.{c}" for c in JOB_COLUMNS)

    # -- listing -----------------------------------------------------------------------------------

    def list_jobs(self, filt: ListFilter | None = None) -> list[JobRow]:
        """Newest first, without the create body or any output."""
        filt = filt or ListFilter()
        params: dict[str, Any] = {}
        sql = f"SELECT {self._columns()} FROM jobs j WHERE {self._where(filt, params)}" + (
            # a batch's lines in file order
            " ORDER BY (SELECT MIN(b.line_no) FROM batch_lines b WHERE b.job_id = j.id"
            " AND b.batch_id = :batch), j.id"
            if filt.batch_id is not None
            else " ORDER BY j.created_at DESC, j.id DESC"
        )
        if filt.limit:
            sql += f" LIMIT {int(filt.limit)}"
        return [JobRow(row) for row in self._execute(sql, params)]

    def labels_for(self, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {i: {} for i in job_ids}
        if not job_ids:
            return out
        params = {f"id{i}": job_id for i, job_id in enumerate(job_ids)}
        names = ", ".join(f":id{i}" for i in range(len(job_ids)))
        sql = f"SELECT job_id, key, value FROM job_labels WHERE job_id IN ({names})"
        for job_id, key, value in self._execute(sql, params):
            out[job_id][key] = value
        return out

    # -- search ------------------------------------------------------------------------------------

    def search(self, text: str, filt: ListFilter | None = None) -> list[SearchHit]:
        """Jobs whose prompt or output matches `text`, best match first, with an excerpt."""
        filt = filt or ListFilter()
        params: dict[str, Any] = {}
        where = self._where(filt, params)
        limit = int(filt.limit or 50)
        if self.dialect == "sqlite":
            query = fts_query(text)
            if not query:
                return []
            params["q"] = query
            # bm25: lower is better; a match in the prompt weighs a little more than in an output.
            # A job has two index rows (prompt, output: migration 0007): its best one counts.
            sql = (
                f"SELECT {self._columns()}, h.rank, h.excerpt FROM ("
                "  SELECT m.*, row_number() OVER (PARTITION BY m.job_id ORDER BY m.rank) AS nth"
                "  FROM (SELECT s.job_id, bm25(job_search, 2.0, 1.0) AS rank,"
                f"   snippet(job_search, -1, '{HL_START}', '{HL_END}', '…', 16) AS excerpt"
                "   FROM job_search JOIN job_search_rows s ON s.id = job_search.rowid"
                "   WHERE job_search MATCH :q) m) h"
                " JOIN jobs j ON j.id = h.job_id"
                f" WHERE h.nth = 1 AND {where} ORDER BY h.rank, j.created_at DESC"
                f" LIMIT {limit}"
            )
            return [
                SearchHit(JobRow(row), -float(row[-2]), row[-1] or "")
                for row in self._execute(sql, params)
            ]
        tsquery = pg_tsquery(text, params)
        if tsquery is None:
            return []
        options = f"StartSel={HL_START}, StopSel={HL_END}, MaxWords=30, MinWords=10, MaxFragments=1"
        sql = (
            f"WITH q AS (SELECT {tsquery} AS q),"
            " hits AS ("
            f"  SELECT j.id, ts_rank({PG_PROMPT_DOC}, q.q) * 2 + ts_rank("
            f"   coalesce({PG_OUTPUT_DOC}, ''::tsvector), q.q) AS rank"
            "  FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id"
            "  LEFT JOIN job_requests rq ON rq.job_id = j.id, q"
            f"  WHERE ({PG_PROMPT_DOC} @@ q.q OR {PG_OUTPUT_DOC} @@ q.q) AND {where}"
            f"  ORDER BY rank DESC, j.created_at DESC LIMIT {limit})"
            f" SELECT {self._columns()}, hits.rank,"
            " CASE WHEN coalesce(r.output_text, '') <> '' AND"
            f"  {PG_OUTPUT_DOC} @@ q.q"
            f"  THEN ts_headline('english', r.output_text, q.q, '{options}')"
            f"  ELSE ts_headline('english', coalesce(rq.request_json::jsonb ->> 'input', ''), q.q,"
            f"  '{options}') END"
            " FROM hits JOIN jobs j ON j.id = hits.id LEFT JOIN job_results r ON r.job_id = j.id"
            " LEFT JOIN job_requests rq ON rq.job_id = j.id, q"
            " ORDER BY hits.rank DESC, j.created_at DESC"
        )
        return [
            SearchHit(JobRow(row), float(row[-2]), row[-1] or "")
            for row in self._execute(sql, params)
        ]

    # -- usage -------------------------------------------------------------------------------------

    def _bucket_expr(self, by: str, params: dict[str, Any]) -> tuple[str, str]:
        """(join, expression) naming each job's group for `jobs usage --by`."""
        sqlite = self.dialect == "sqlite"
        if by == "model":
            return "", "coalesce(j.model, j.agent, '')"
        if by == "agent":
            return "", "coalesce(j.agent, '(no agent)')"
        if by == "day":
            return "", "substr(j.created_at, 1, 10)" if sqlite else "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"  # fmt: skip
        if by == "week":  # the Monday that starts the (ISO) week
            return "", (
                "date(substr(j.created_at, 1, 10), '-6 days', 'weekday 1')"
                if sqlite
                else "to_char(date_trunc('week', j.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
            )
        if by == "month":
            return "", "substr(j.created_at, 1, 7)" if sqlite else "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM')"  # fmt: skip
        key = by.split(":", 1)[1] if by.startswith("label:") else by  # batch, schedule: labels
        params["group_key"] = key
        join = "LEFT JOIN job_labels g ON g.job_id = j.id AND g.key = :group_key"
        return join, "coalesce(g.value, '(none)')"

    def usage_cells(
        self,
        filt: ListFilter,
        *,
        by: str,
        thresholds: Sequence[int] = (),
    ) -> list[UsageCell]:
        """Token sums per (group, target, service tier, day, context bucket), in one query.

        Prices depend on the target, the tier, the day (effective dates) and the prompt's size
        (context tiers); cost is linear in tokens within a cell, so pricing each cell is exact."""
        params: dict[str, Any] = {}
        where = self._where(filt, params)
        join, group = self._bucket_expr(by, params)
        sqlite = self.dialect == "sqlite"
        day = (
            "substr(j.created_at, 1, 10)"
            if sqlite
            else "to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        )
        # The tier asked for, read from the request only for jobs whose usage has none.
        tier = (
            "coalesce(u.service_tier, (SELECT CASE WHEN json_valid(rq.request_json)"
            " THEN json_extract(rq.request_json, '$.service_tier') END"
            " FROM job_requests rq WHERE rq.job_id = j.id), 'standard')"
            if sqlite
            else "coalesce(u.service_tier, (SELECT rq.request_json::jsonb ->> 'service_tier'"
            " FROM job_requests rq WHERE rq.job_id = j.id), 'standard')"
        )
        bucket = "0"
        if thresholds:
            whens = " ".join(
                f"WHEN j.input_tokens > {int(t)} THEN {i + 1}"
                for i, t in reversed(list(enumerate(sorted(thresholds))))
            )
            bucket = f"CASE {whens} ELSE 0 END"
        sums = ", ".join(f"sum(j.{kind}_tokens)" for kind in TOKEN_KINDS)
        sql = (
            f"SELECT {group} AS grp, coalesce(j.agent, j.model, '') AS target, {tier} AS tier,"
            f" {day} AS day, {bucket} AS bucket, count(*), count(j.total_tokens), {sums},"
            " sum(u.search_calls)"
            f" FROM jobs j LEFT JOIN job_usage u ON u.job_id = j.id {join}"
            f" WHERE {where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 4"
        )
        cells = []
        for row in self._execute(sql, params):
            grp, target, tier_name, day_text, bucket_index, jobs, with_usage = row[:7]
            tokens = {k: int(v or 0) for k, v in zip(TOKEN_KINDS, row[7:13], strict=True)}
            cells.append(
                UsageCell(
                    group=str(grp),
                    target=target,
                    service_tier=str(tier_name),
                    day=str(day_text),
                    context_bucket=int(bucket_index),
                    jobs=int(jobs),
                    with_usage=int(with_usage),
                    tokens=tokens,
                    search_calls=int(row[13] or 0),
                )
            )
        return cells

    # -- export ------------------------------------------------------------------------------------

    EXPORT_EXTRA = (
        "request_json", "output_text", "thoughts_json", "steps_json", "usage_json",
        "errors_json", "service_tier", "search_calls",
    )  # fmt: skip

    def iter_export(self, filt: ListFilter) -> Iterator[tuple[JobRow, dict[str, Any]]]:
        """Every matching job, oldest first, with its whole record; streamed."""
        params: dict[str, Any] = {}
        sql = (
            f"SELECT {self._columns()}, rq.request_json, r.output_text, r.thoughts_json,"
            " r.steps_json, r.usage_json, r.errors_json, u.service_tier, u.search_calls"
            " FROM jobs j LEFT JOIN job_requests rq ON rq.job_id = j.id"
            " LEFT JOIN job_results r ON r.job_id = j.id"
            " LEFT JOIN job_usage u ON u.job_id = j.id"
            f" WHERE {self._where(filt, params)} ORDER BY j.created_at, j.id"
        )
        width = len(JOB_COLUMNS)
        for row in self._execute(sql, params, stream=True):
            yield JobRow(row), dict(zip(self.EXPORT_EXTRA, row[width:], strict=True))


# -- opening ---------------------------------------------------------------------------------------


def _sqlite_queries(path: Path) -> Queries | None:
    """Queries over a SQLite file through sqlite3, if the file is a store at the current schema."""
    try:
        connection = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("PRAGMA query_only = 1")
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        connection.close()
        return None
    if version != [(SCHEMA_HEAD,)]:
        connection.close()
        return None

    def execute(sql: str, params: dict[str, Any], stream: bool = False) -> Iterator[Sequence[Any]]:
        return connection.execute(sql, params)

    return Queries("sqlite", execute, connection.close)


def _sqlalchemy_queries(database: Any) -> Queries:
    from sqlalchemy import text

    connection = database.engine.connect()

    def execute(sql: str, params: dict[str, Any], stream: bool = False) -> Iterator[Sequence[Any]]:
        if stream:
            result = connection.execution_options(stream_results=True, yield_per=500).execute(
                text(sql), params
            )
            yield from result
            return
        yield from connection.execute(text(sql), params).all()

    def close() -> None:
        connection.close()

    return Queries(database.dialect, execute, close)


def open_queries(url: str, open_database: Callable[[], Any]) -> Queries:
    """Read-only queries over the store at `url`. A SQLite file already at the current schema is read
    with sqlite3 alone; anything else goes through `open_database()` (which creates and migrates,
    so the first command on a new store still works) and, for PostgreSQL, SQLAlchemy."""
    path = sqlite_path(url)
    if path is not None and path.is_file():
        queries = _sqlite_queries(path)
        if queries is not None:
            return queries
    database = open_database()
    if database.dialect == "sqlite" and database.sqlite_path is not None:
        queries = _sqlite_queries(database.sqlite_path)
        if queries is not None:
            return queries
    return _sqlalchemy_queries(database)
