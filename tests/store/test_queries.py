"""The read side (store/queries.py) on both backends: listings, search kept in step, usage sums."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from jobs.clock import FakeClock
from jobs.models import Job, JobStatus
from jobs.store import JobStore, TerminalResult
from jobs.store.queries import ListFilter, open_queries


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(database):
    return JobStore(database)


@pytest.fixture
def queries(database):
    with open_queries(database.url, lambda: database) as q:
        yield q


def add(store, clock, job_id, prompt, *, output=None, model="m", labels=None, usage=None, raw=None):
    job = Job(
        id=job_id,
        model=model,
        created_at=clock.now(),
        prompt_excerpt=prompt[:200],
        request_json=json.dumps({"input": prompt, "model": model}),
    )
    store.insert_job(job, labels or {}, clock.now())
    if output is not None:
        figures = usage or {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}
        assert store.record_terminal(
            job_id,
            status=JobStatus.COMPLETED,
            remote_status="completed",
            now=clock.now(),
            result=TerminalResult(output_text=output, usage={}, raw=raw or {}),
            usage=figures,
        )
    clock.advance(60)


def test_the_read_path_lists_what_the_write_path_lists(store, queries, clock):
    from jobs.store import JobFilter

    for i in range(5):
        add(store, clock, f"job{i}a2", f"prompt {i}", output="x" if i % 2 else None,
            labels={"team": "a" if i < 3 else "b"})  # fmt: skip
    for ours, theirs in [
        (ListFilter(), JobFilter()),
        (ListFilter(statuses=["completed"]), JobFilter(statuses=["completed"])),
        (ListFilter(labels={"team": "a"}, limit=2), JobFilter(labels={"team": "a"}, limit=2)),
    ]:
        read = queries.list_jobs(ours)
        written = store.list_jobs(theirs)
        assert [j.id for j in read] == [j.id for j in written]
        assert [(j.created_at, j.total_tokens, j.status) for j in read] == [
            (j.created_at, j.total_tokens, j.status) for j in written
        ]
    assert queries.labels_for(["job0a2"]) == {"job0a2": {"team": "a"}}


def test_search_covers_prompts_and_outputs_and_follows_deletes(store, queries, clock):
    add(store, clock, "pr0mpt", "How do lighthouses work?")
    add(store, clock, "0utput", "Tell me about coasts", output="Lighthouse keepers logged storms.")
    add(store, clock, "n0ne22", "Something else", output="Nothing to see.")
    assert {h.job.id for h in queries.search("lighthouse")} == {"pr0mpt", "0utput"}
    [hit] = queries.search('"keepers logged storms"')
    assert hit.job.id == "0utput" and "\x02" in hit.excerpt
    store.delete_job("0utput")
    assert [h.job.id for h in queries.search("keepers")] == []
    assert [h.job.id for h in queries.search("lighthouse")] == ["pr0mpt"]


def test_usage_cells_sum_tokens_per_group_and_day(store, queries, clock):
    add(store, clock, "u1aaaa", "a", output="x", model="m1",
        usage={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110},
        raw={"service_tier": "flex"})  # fmt: skip
    add(store, clock, "u2aaaa", "b", output="x", model="m1",
        usage={"input_tokens": 300_000, "output_tokens": 5, "total_tokens": 300_005})  # fmt: skip
    add(store, clock, "u3aaaa", "c", model="m2")  # no usage yet
    cells = queries.usage_cells(ListFilter(), by="model", thresholds=[200_000])
    by_key = {(c.group, c.service_tier, c.context_bucket): c for c in cells}
    assert by_key[("m1", "flex", 0)].tokens["input"] == 100
    assert by_key[("m1", "standard", 1)].tokens["input"] == 300_000
    assert by_key[("m2", "standard", 0)].with_usage == 0
    assert all(c.day == clock.now().date().isoformat() for c in cells)


def test_export_streams_every_job_with_its_whole_record(store, queries, clock):
    for i in range(30):
        add(store, clock, f"ex{i:02d}aa", f"prompt {i}", output=f"output {i}")
    rows = queries.iter_export(ListFilter())
    first_job, first_extra = next(rows)  # a generator: the first row comes before the rest is read
    assert first_job.id == "ex00aa" and first_extra["output_text"] == "output 0"
    assert sum(1 for _ in rows) == 29


def test_the_migration_indexes_jobs_stored_before_it(database_url):
    """A store at revision 0004 with jobs in it: after the upgrade, search finds them, and their
    search calls and service tier are known to pricing."""
    from alembic import command

    from jobs.db import create_engine, open_database
    from jobs.migrate import alembic_config, migration_connection

    url = database_url
    engine = create_engine(url)
    config = alembic_config()
    with migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO jobs (id, prompt_excerpt, request_json, labels_json, status,"
                " created_at, poll_count, submit_attempts, consecutive_errors)"
                " VALUES ('old111', 'an old prompt', :body, '{}', 'completed',"
                " '2026-01-01 00:00:00.000000', 0, 0, 0)"
            ),
            {"body": json.dumps({"input": "an old prompt about volcanoes"})},
        )
        usage = {"grounding_tool_count": [{"type": "google_search", "count": 3}, {"count": 2}]}
        connection.execute(
            sa.text(
                "INSERT INTO job_results VALUES ('old111', 'Basalt flows cool slowly.', '[]',"
                " '[]', :usage, '[]', :raw)"
            ),
            {"usage": json.dumps(usage), "raw": json.dumps({"service_tier": "flex"})},
        )
        connection.execute(  # odd stored usage must not break the upgrade
            sa.text(
                "INSERT INTO jobs (id, prompt_excerpt, request_json, labels_json, status,"
                " created_at, poll_count, submit_attempts, consecutive_errors)"
                " VALUES ('odd111', 'odd', '{}', '{}', 'completed',"
                " '2026-01-01 00:00:00.000000', 0, 0, 0)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO job_results VALUES ('odd111', '', '[]', '[]',"
                " '{\"grounding_tool_count\": \"lots\"}', '[]', 'not json')"
            )
        )
    engine.dispose()
    database = open_database(url)  # migrates to head
    try:
        with open_queries(url, lambda: database) as q:
            assert [h.job.id for h in q.search("volcanoes")] == ["old111"]
            assert [h.job.id for h in q.search("basalt")] == ["old111"]
        with database.engine.connect() as connection:
            rows = dict(
                (r[0], (r[1], r[2]))
                for r in connection.execute(
                    sa.text("SELECT job_id, service_tier, search_calls FROM job_usage")
                )
            )
        assert rows == {"old111": ("flex", 5), "odd111": (None, None)}
    finally:
        database.close()
