"""`jobs list`, `jobs list -q` and `jobs usage --by day` against simonw/llm's `llm logs`, side by side.

Both stores hold the same texts (benchmarks/corpus.py): N jobs in a `jobs` store (built here, with
the store's own migrations and triggers, rows inserted in bulk) and N logged prompts in an llm logs
database (built by build_llm_logs.py with llm's own logging code, in llm's own venv). Then each
command runs --runs times, the two tools alternating, as fresh processes with stdout to a pipe, and
the median wall times are printed with their ratio (jobs / llm; the goal is at most 0.8 for list and
list -q). Both show the same number of rows (-n).

    python -m venv /tmp/llm-venv && /tmp/llm-venv/bin/pip install llm      # NOT the project's venv
    /tmp/llm-venv/bin/python benchmarks/build_llm_logs.py /tmp/bench/llm/logs.db 10000 10
    .venv/bin/python benchmarks/compare_llm.py --work /tmp/bench --jobs 100000 --copies 10 \\
        --llm /tmp/llm-venv/bin/llm
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import SEARCH_WORD, texts  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def build_jobs_store(home: Path, count: int, copies: int) -> Path:
    """A store of `count` completed jobs, created over the last 90 days: the texts of
    corpus.texts(count // copies), `copies` times over (as build_llm_logs.py does)."""
    from jobs.db import default_sqlite_url, open_database

    path = home / "jobs.db"
    if path.exists():
        path.unlink()
    open_database(default_sqlite_url(home)).close()  # created and migrated by jobs itself
    rng = random.Random(3)
    now = datetime.now(UTC).replace(microsecond=0)
    start = time.time()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous = OFF")  # building speed only
    jobs, results, usage = [], [], []

    def flush() -> None:
        connection.executemany(
            "INSERT INTO jobs (id, interaction_id, model, prompt_excerpt, request_json,"
            " labels_json, status, remote_status, created_at, submitted_at, finished_at,"
            " poll_count, submit_attempts, consecutive_errors, input_tokens, output_tokens,"
            " thought_tokens, cached_tokens, tool_use_tokens, total_tokens, output_chars)"
            " VALUES (?, ?, ?, ?, ?, '{}', 'completed', 'completed', ?, ?, ?, 3, 1, 0,"
            " ?, ?, ?, 0, 0, ?, ?)",
            jobs,
        )
        connection.executemany(
            "INSERT INTO job_results VALUES (?, ?, '[]', '[]', ?, '[]', '{}')", results
        )
        connection.executemany("INSERT INTO job_usage (job_id, search_calls) VALUES (?, 0)", usage)
        jobs.clear(), results.clear(), usage.clear()

    distinct = list(texts(count // copies))
    for index in range(count):
        prompt, output = distinct[index % len(distinct)]
        job_id = f"b{index:07d}"
        created = now - timedelta(seconds=(count - index) * 90 * 86400 / count)
        finished = created + timedelta(seconds=rng.randint(5, 120))
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        tokens_in, tokens_out, thought = len(prompt) // 4, len(output) // 4, rng.randint(0, 200)
        jobs.append(
            (
                job_id,
                f"int_{job_id}",
                "gemini-3-flash-preview",
                prompt[:200],
                json.dumps({"input": prompt, "model": "gemini-3-flash-preview"}),
                created.strftime(fmt),
                created.strftime(fmt),
                finished.strftime(fmt),
                tokens_in,
                tokens_out,
                thought,
                tokens_in + tokens_out + thought,
                len(output),
            )
        )
        results.append(
            (job_id, output, json.dumps({"total_tokens": tokens_in + tokens_out + thought}))
        )
        usage.append((job_id,))
        if len(jobs) >= 5000:
            flush()
    flush()
    connection.commit()
    connection.execute("PRAGMA synchronous = FULL")
    connection.close()
    print(f"jobs store: {count} jobs in {time.time() - start:.0f}s ({path})", flush=True)
    return path


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, done.stdout


def jobs_rows(output: str) -> int:
    return len(set(re.findall(r"^(b\d{7})\s", output, re.M)))  # table rows (and excerpt lines)


def llm_rows(output: str) -> int:
    return len(re.findall(r"^# \d{4}-\d\d-\d\dT", output, re.M))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="directory for both stores")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--llm", required=True, help="the llm executable of its own venv")
    parser.add_argument("--copies", type=int, default=10, help="as given to build_llm_logs.py")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-n", "--rows", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="keep an existing jobs store")
    args = parser.parse_args()

    jobs_home, llm_home = args.work / "jobs", args.work / "llm"
    jobs_home.mkdir(parents=True, exist_ok=True)
    if not (llm_home / "logs.db").exists():
        raise SystemExit(f"no {llm_home / 'logs.db'}: build it first with build_llm_logs.py")
    if not (args.reuse and (jobs_home / "jobs.db").exists()):
        build_jobs_store(jobs_home, args.jobs, args.copies)

    jobs_bin = str(Path(sys.executable).with_name("jobs"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "LLM_"))}
    base["COLUMNS"] = "100"
    jobs_env = {**base, "JOBS_HOME": str(jobs_home)}
    llm_env = {**base, "LLM_USER_PATH": str(llm_home)}
    n = str(args.rows)
    cases = [
        ("list", [jobs_bin, "list", "-n", n], [args.llm, "logs", "list", "-n", n]),
        (
            f"list -q {SEARCH_WORD}",
            [jobs_bin, "list", "-q", SEARCH_WORD, "-n", n],
            [args.llm, "logs", "list", "-q", SEARCH_WORD, "-n", n],
        ),
    ]
    with sqlite3.connect(jobs_home / "jobs.db") as db:
        stored = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
    with sqlite3.connect(llm_home / "logs.db") as db:
        logged = db.execute("SELECT count(*) FROM turns").fetchone()[0]
    print(f"stores: {stored:,} jobs, {logged:,} llm logs; {args.runs} runs each, median wall time")
    # One warm-up of each, so both start from a warm page cache.
    for _, ours, theirs in cases:
        run(ours, jobs_env)
        run(theirs, llm_env)
    for name, ours, theirs in cases:
        mine, others = [], []
        for _ in range(args.runs):
            elapsed, out = run(ours, jobs_env)
            mine.append(elapsed)
            shown = jobs_rows(out)
            elapsed, out = run(theirs, llm_env)
            others.append(elapsed)
            shown_llm = llm_rows(out)
        a, b = statistics.median(mine), statistics.median(others)
        print(
            f"{name:<28} jobs {a:6.3f}s ({shown} rows)   llm {b:6.3f}s ({shown_llm} rows)"
            f"   ratio {a / b:.2f}",
            flush=True,
        )
    usage_runs = [run([jobs_bin, "usage", "--by", "day"], jobs_env)[0] for _ in range(args.runs)]
    print(
        f"{'usage --by day':<28} jobs {statistics.median(usage_runs):6.3f}s "
        f"(over {stored:,} jobs; llm has no equivalent)"
    )


if __name__ == "__main__":
    main()
