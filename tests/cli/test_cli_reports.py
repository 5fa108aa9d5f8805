"""What it cost and what it said: usage, export, search, budgets and backup, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from jobs.worker import Worker

OUTPUT_ONLY = "remember that sentences"  # in the emulator's answer about the sky, not in a prompt


@pytest.fixture
def jobs_done(cli, drive, home):
    """Three finished jobs: two on a priced model (one labelled), one on a model with no price."""
    a = cli.submit("-l", "team=docs", "Explain in two sentences why the sky is blue.")
    drive(a["id"])
    b = cli.submit("-m", "no-such-price-model", "Write a haiku about databases.")
    drive(b["id"])
    c = cli.submit("-l", "team=ops", "Summarise the =SUM(A1) attack in one line.")
    drive(c["id"])
    return a, b, c


def test_usage_by_model_prices_what_it_can_and_says_what_is_unpriced(cli, jobs_done, home):
    a, b, c = jobs_done
    home.joinpath("config.toml").write_text(
        "[[prices.price]]\n"
        'target = "gemini-3-flash-preview"\nservice_tier = "standard"\neffective = 2026-01-01\n'
        "input = 1000.0\noutput = 1000.0\n"
    )
    report = cli.json("usage", "--by", "model")
    groups = {g["group"]: g for g in report["groups"]}
    flash, unknown = groups["gemini-3-flash-preview"], groups["no-such-price-model"]
    assert flash["jobs"] == 2 and unknown["jobs"] == 1
    shown = cli.json("show", a["id"])
    tokens = shown["usage"]
    # the custom table is in force: 1000 USD per 1M of every kind (thought defaults to output)
    expected = (tokens["input_tokens"] + tokens["output_tokens"] + tokens["thought_tokens"]) / 1000
    assert shown["cost_usd"] == pytest.approx(expected)
    assert unknown["cost_usd"] is None and unknown["unpriced_jobs"] == 1
    assert report["total"]["unpriced"] == ["no-such-price-model"]
    assert report["total"]["tokens"]["total"] == sum(g["tokens"]["total"] for g in report["groups"])
    text = cli("usage").stdout
    assert "unpriced" in text and "$" in text
    assert cli.json("show", b["id"])["cost_usd"] is None
    assert "unpriced" in cli("show", b["id"]).stdout


def test_usage_by_day_and_label_and_the_price_table(cli, jobs_done):
    by_day = cli.json("usage", "--by", "day")
    assert len(by_day["groups"]) == 1 and by_day["groups"][0]["jobs"] == 3
    by_team = {g["group"]: g["jobs"] for g in cli.json("usage", "--by", "label:team")["groups"]}
    assert by_team == {"docs": 1, "ops": 1, "(none)": 1}
    prices = cli.json("usage", "--prices")["prices"]
    assert {"target", "effective", "source", "verified"} <= set(prices[0])
    assert "gemini-3-flash-preview" in cli("usage", "--prices").stdout
    assert "cannot group by 'colour'" in cli.fails("usage", "--by", "colour", code=2)


def test_search_finds_a_phrase_only_in_an_output(cli, jobs_done):
    a, _, _ = jobs_done
    hits = cli.json("list", "-q", f'"{OUTPUT_ONLY}"')
    assert [h["id"] for h in hits] == [a["id"]]
    search = hits[0]["search"]
    start, end = search["matches"][0]
    assert search["excerpt"][start:end].lower() in OUTPUT_ONLY.lower()
    assert cli.json("list", "-q", "haiku databases")[0]["model"] == "no-such-price-model"
    assert cli.json("list", "-q", "haiku", "--label", "team=docs") == []
    table = cli("list", "-q", OUTPUT_ONLY).stdout
    assert a["id"] in table and "remember" in table.lower()
    assert "no jobs match" in cli("list", "-q", "zyzzyva").stderr


def test_export_formats_open_in_their_readers(cli, jobs_done, tmp_path):
    a, b, c = jobs_done
    lines = cli("export", "--format", "jsonl").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == [a["id"], b["id"], c["id"]]
    first = records[0]
    assert first["prompt"].startswith("Explain in two sentences")
    assert OUTPUT_ONLY in first["output_text"] and first["usage"]["total_tokens"] > 0
    assert first["labels"] == {"team": "docs"} and first["cost_usd"] > 0
    assert records[1]["cost_usd"] is None and records[1]["priced"] is False

    path = tmp_path / "jobs.csv"
    result = cli("export", "--format", "csv", "-o", str(path))
    assert "exported 3 jobs" in result.stderr
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [a["id"], b["id"], c["id"]]
    assert float(rows[0]["cost_usd"]) > 0 and rows[1]["priced"] == "no"
    assert int(rows[0]["total_tokens"]) == first["usage"]["total_tokens"]
    # a prompt that starts like a formula is not a formula any more
    assert rows[2]["prompt"].startswith("Summarise")
    sneaky = cli.submit('=HYPERLINK("http://evil")')
    out = cli("export", "--format", "csv", "--status", "queued").stdout
    cell = next(csv.DictReader(io.StringIO(out)))
    assert cell["id"] == sneaky["id"] and cell["prompt"].startswith("'=HYPERLINK")

    md = cli("export", "--format", "md", "--label", "team=docs").stdout
    assert md.startswith("# Explain in two sentences") and OUTPUT_ONLY in md
    from markdown_it import MarkdownIt

    tokens = MarkdownIt().parse(md)
    headings = [t.tag for t in tokens if t.type == "heading_open"]
    assert headings[0] == "h1"


def test_research_export_keeps_the_report_structure_and_sources(cli, drive):
    job = cli.submit("--research", "How did background job queues evolve?")
    drive(job["id"], step=30)
    md = cli("export", "--format", "md").stdout
    from markdown_it import MarkdownIt

    tokens = MarkdownIt().parse(md)
    links = [
        child.attrs["href"]
        for t in tokens
        if t.type == "inline"
        for child in t.children or []
        if child.type == "link_open"
    ]
    assert "## Sources" in md and links and all(h.startswith("https://") for h in links)
    assert len([t for t in tokens if t.type == "heading_open"]) > 3


def test_a_budgeted_job_is_cancelled_by_the_worker_and_says_why(cli, service, clock, emulator):
    emulator.backend.configure(live_usage=True)
    job = cli.submit("--research", "--budget", "600", "Research the history of the telephone.")
    worker = Worker(service)
    for _ in range(400):
        clock.advance(10)
        worker.poll_once()
        if service.get_job(job["id"]).job_status.is_terminal:
            break
    shown = cli.json("show", job["id"])
    assert shown["status"] == "cancelled"
    assert shown["budget"]["max_tokens"] == 600
    assert "stopped by its budget" in shown["budget"]["tripped_reason"]
    assert shown["usage"]["total_tokens"] is not None
    assert [e["kind"] for e in shown["events"]].count("budget_exceeded") == 1
    assert "stopped by its budget" in cli("show", job["id"]).stdout


def test_a_budget_survives_a_restart_of_the_worker(cli, make_service, settings, clock, emulator):
    emulator.backend.configure(live_usage=True)
    job = cli.submit("--research", "--budget", "600", "Research the history of radio.")
    first = make_service(settings, owner="worker-1")
    clock.advance(5)
    Worker(first).poll_once()  # the job is running, under its budget
    assert not first.get_job(job["id"]).job_status.is_terminal
    second = make_service(settings, owner="worker-2")  # a new process: nothing in memory
    for _ in range(400):
        clock.advance(10)
        Worker(second).poll_once()
        if second.get_job(job["id"]).job_status.is_terminal:
            break
    assert second.get_job(job["id"]).status == "cancelled"


def test_bad_budgets_are_refused_before_anything_is_sent(cli, store_rows):
    assert "bad budget" in cli.fails("submit", "--budget", "lots", "x", code=2)
    assert "has no price" in cli.fails("submit", "-m", "mystery", "--budget", "$1", "x", code=2)
    assert store_rows() == {}


def test_batch_budget_stops_more_lines_once_its_jobs_reach_the_ceiling(cli, service, drive):
    from jobs.service.budgets import Ceiling

    first = cli.submit("-l", "batch=b1", "Explain in two sentences why the sky is blue.")
    drive(first["id"])
    used = service.get_job(first["id"]).total_tokens
    service.budgets.set("batch", "b1", Ceiling(max_tokens=used * 2))
    assert service.budgets.batch_allows("b1", [first["id"]])
    second = cli.submit("-l", "batch=b1", "Explain in two sentences why grass is green.")
    drive(second["id"])
    assert not service.budgets.batch_allows("b1", [first["id"], second["id"]])
    budget = service.budgets.get("batch", "b1")
    assert budget.tripped_at is not None and "budget" in budget.tripped_reason
    # a tripped budget stays tripped (a restart does not reopen it)
    assert not service.budgets.batch_allows("b1", [first["id"]])


def test_db_backup_is_a_consistent_copy(cli, jobs_done, home, tmp_path):
    target = tmp_path / "copy.db"
    assert "backed up" in cli("db", "backup", str(target)).stdout
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM jobs").fetchone() == (3,)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "exists" in cli.fails("db", "backup", str(target), code=2)
    assert target.stat().st_mode & 0o077 == 0


def test_streamed_usage_in_the_event_journal_trips_a_budget(cli, service, clock):
    job = cli.submit("--research", "--budget", "500", "Research the history of maps.")
    events = [
        {
            "event_type": "step.stop",
            "index": index,
            "event_id": f"evt_{index}",
            "step_usage": {"total_thought_tokens": tokens},
        }  # fmt: skip
        for index, tokens in enumerate((200, 250, 150))
    ]
    assert service.journal.append(job["id"], events, clock.now()) == 3
    assert service.budgets.enforce(clock.now()) == [job["id"]]
    service.run_pass()  # sends the cancel
    shown = cli.json("show", job["id"])
    assert "used 600 tokens, budget 500 tokens" in shown["budget"]["tripped_reason"]
    assert shown["status"] in ("cancelled", "in_progress") and shown["events"]
    assert any(e["kind"] == "cancel_sent" for e in shown["events"])


def test_a_budgeted_batch_sends_no_more_lines_past_its_ceiling(cli, service, clock, emulator, tmp_path):  # fmt: skip
    prompts = tmp_path / "night.txt"
    prompts.write_text("".join(f"Explain in two sentences topic number {n}.\n" for n in range(6)))
    batch = cli.json("batch", "submit", str(prompts), "--detach", "--budget", "300")
    for _ in range(60):  # a budgeted batch keeps batch.concurrency (4) lines running at most
        clock.advance(20)
        service.run_pass()
        if all(j["status"] in ("completed", "cancelled") for j in cli.json("list", "--batch", batch["id"])):  # fmt: skip
            break
    statuses = [j["status"] for j in cli.json("list", "--batch", batch["id"])]
    assert statuses.count("completed") >= 1 and statuses.count("cancelled") >= 1, statuses
    assert statuses.count("completed") + statuses.count("cancelled") == 6
    # the cancelled lines were never sent: one create per completed line, no more
    assert emulator.backend.stats()["creates"] == statuses.count("completed")
    budget = service.budgets.store.get_budget("batch", batch["id"])
    assert budget.tripped_at is not None and "stopped by its budget" in budget.tripped_reason
    cancelled = [j for j in cli.json("list", "--batch", batch["id"]) if j["status"] == "cancelled"]
    assert all(
        "past its budget" in cli.json("show", j["id"])["error"]["message"] for j in cancelled
    )
