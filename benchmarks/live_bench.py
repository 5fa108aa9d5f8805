"""Streams instead of polls, thousands of jobs on one worker: the figures of issue 9.

Everything runs on the emulator, in its own process, with its `latency` knob at 0.1 s a request
(as a real network would add). Workers are real `Worker(...).run()` processes; the benchmark only
records jobs (write-ahead, `pending`) and reads the store and the emulator's counters.

1. Requests per completed job and detection latency: model jobs plus a Deep Research run of about
   10 simulated minutes, followed by stream (the default) and then by polling, and beside them
   the SDK documentation's loop (create, then a `get` every 5 s) on the same 10-minute run.
   Detection latency = the job's end in the store minus the emulator's end (`ends_at`).
2. 10,000 model jobs in flight on one worker: the emulator's clock is held (a fake clock) while
   the worker submits them all, then moved on so they all end at once; reported: seconds until
   all are recorded, the worker's peak RSS, CPU per recorded job.
3. PostgreSQL scale-out: 1, 2 and 4 workers over N jobs: throughput, CPU, and the audit of every
   `get` and stream of every worker (no interaction followed by two workers at once).

    .venv/bin/python benchmarks/live_bench.py                      # small: a quick look
    .venv/bin/python benchmarks/live_bench.py --full --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx2

AGENT = "deep-research-preview-04-2026"
MODEL = "gemini-3-flash-preview"
LATENCY = 0.1
KEY = "bench-key"

EMULATOR = """
import sys, threading
from jobs.clock import FakeClock
from jobs.emulator import EmulatorServer
speed, fake = float(sys.argv[1]), sys.argv[2] == "fake"
kwargs = {"speed": speed}
if fake:
    kwargs["clock"] = FakeClock(__import__("datetime").datetime.now(__import__("datetime").UTC))
with EmulatorServer(**kwargs) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


# -- processes ---------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Emulator:
    def __init__(self, *, speed: float, fake_clock: bool = False) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, str(speed), "fake" if fake_clock else "real"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = (self.process.stdout.readline() if self.process.stdout else "").strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the emulator did not start")
        self.http = httpx2.Client(base_url=self.url, timeout=60)
        self.http.post("/_emulator/config", json={"latency": LATENCY})

    def stats(self) -> dict:
        return self.http.get("/_emulator/stats").json()

    def interactions(self) -> dict[str, dict]:
        return {i["id"]: i for i in self.http.get("/_emulator/interactions").json()["interactions"]}

    def advance(self, seconds: float) -> None:
        self.http.post("/_emulator/clock/advance", json={"seconds": seconds})

    def close(self) -> None:
        self.http.close()
        if self.process.stdin:
            self.process.stdin.close()
        self.process.terminate()
        self.process.wait(10)


def write_config(home: Path, worker: dict, db_url: str | None = None) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    lines = ["[api]", "timeout = 30.0", "create_timeout = 30.0", "[worker]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in worker.items()]
    lines += ["[polling]", "min_interval = 2.0"]
    (home / "config.toml").write_text("\n".join(lines) + "\n")
    env = {"JOBS_HOME": str(home)}
    if db_url:
        env["JOBS_DB_URL"] = db_url
    return env


def start_worker(env: dict[str, str], base_url: str, audit: Path | None = None) -> subprocess.Popen:
    full = {
        **os.environ,
        **env,
        "GEMINI_API_KEY": KEY,
        "GOOGLE_GEMINI_BASE_URL": base_url,
    }
    args = [sys.executable, __file__, "_worker", str(audit or "")]
    return subprocess.Popen(
        args, env=full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def wait_ready(process: subprocess.Popen) -> None:
    line = process.stdout.readline() if process.stdout else ""
    if "ready" not in line:
        raise RuntimeError(f"worker did not start: {line!r}")


def stop_worker(process: subprocess.Popen) -> tuple[float, float]:
    cpu, rss = proc_cpu(process.pid), proc_peak_rss_mb(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
    return cpu, rss


def open_service(env: dict[str, str], base_url: str):
    """A service in this process on the run's store (to record jobs and read results)."""
    from jobs.app import build_app
    from jobs.config import load_settings

    settings = load_settings({**env, "GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": base_url})
    return build_app(settings)


def insert_jobs(app, rows: list) -> None:
    """Insert jobs built in memory, 2,000 per transaction, each with its request (which lives in
    its own table, as the store writes it)."""
    from jobs.store.jobs import add_request

    for start in range(0, len(rows), 2000):
        with app.database.write() as session:
            chunk = rows[start : start + 2000]
            session.add_all(chunk)
            session.flush()
            for job in chunk:
                add_request(session, job)


def record_jobs(app, specs: list[tuple[str | None, str | None, str]]) -> list[str]:
    """Record jobs as `pending` (write-ahead), many per transaction; the worker submits them."""
    from jobs.models import Job, new_job_id

    now = datetime.now(UTC)
    ids = []
    rows = []
    for model, agent, prompt in specs:
        job = Job(id=new_job_id(10), model=model, agent=agent, created_at=now)
        body = {"input": prompt, "labels": {}}
        if agent:
            body |= {
                "agent": agent,
                "agent_config": {"type": "deep-research", "thinking_summaries": "auto"},
            }
        else:
            body["model"] = model
        job.request_json = json.dumps(body)
        job.prompt_excerpt = prompt[:200]
        rows.append(job)
        ids.append(job.id)
    insert_jobs(app, rows)
    return ids


def counts(app) -> dict[str, int]:
    return app.store.count_by_status()


def wait_until(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- 1. requests per job, detection latency ------------------------------------------------------


def ten_minute_prompt() -> tuple[str, float]:
    """A research prompt whose run lasts about 10 simulated minutes (the emulator is
    deterministic: the timeline follows from the input)."""
    from jobs.clock import FakeClock
    from jobs.emulator import EmulatorBackend

    backend = EmulatorBackend(clock=FakeClock())
    best = ("", 0.0)
    for n in range(400):
        prompt = f"Research question {n}: how do tides work?"
        body = {"agent": AGENT, "input": prompt, "background": True, "agent_config": {"type": "deep-research", "thinking_summaries": "auto"}}  # fmt: skip
        end = backend._records[backend.create(body)["id"]].end  # noqa: SLF001 - a benchmark peeks
        if abs(end - 600) < abs(best[1] - 600):
            best = (prompt, end)
        if abs(end - 600) < 10:
            break
    return best


def documented_loop(base_url: str, prompt: str, speed: float, out: dict) -> None:
    """The SDK documentation's loop: create in the background, `get` every 5 s until done."""
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url, retry_options=types.HttpRetryOptions(attempts=1)))  # fmt: skip
    requests = 1
    interaction = client.interactions.create(agent=AGENT, input=prompt, background=True, agent_config={"type": "deep-research", "thinking_summaries": "auto"})  # fmt: skip
    started, k = time.monotonic(), 0
    while interaction.status in ("queued", "in_progress"):
        k += 1  # every 5 simulated seconds, on the dot (a late get does not shift the next)
        time.sleep(max(0.0, started + k * 5 / speed - time.monotonic()))
        interaction = client.interactions.get(interaction.id)
        requests += 1
    out["requests"] = requests
    out["status"] = interaction.status


def follow_run(mode: str, models: int, prompt: str, speed: float, workdir: Path) -> dict:
    emulator = Emulator(speed=speed)
    home = workdir / f"run-{mode}"
    env = write_config(home, {"follow": mode, "tick": 0.5, "stream_idle": 300.0})
    app = open_service(env, emulator.url)
    try:
        specs = [(MODEL, None, f"Question {n}: name a colour.") for n in range(models)]
        ids = record_jobs(app, specs + [(None, AGENT, prompt)])
        research_id = ids[-1]
        loop: dict = {}
        audit = home / "audit.log"
        worker = start_worker(env, emulator.url, audit)
        wait_ready(worker)
        doc = threading.Thread(target=documented_loop, args=(emulator.url, prompt, speed, loop))
        doc.start()
        started = time.monotonic()
        wait_until(lambda: counts(app).get("completed", 0) == len(ids), 1800, f"{mode}: all jobs")
        elapsed = time.monotonic() - started
        doc.join(1800)
        cpu, rss = stop_worker(worker)
        stats = emulator.stats()["requests"]
        total = sum(stats.values()) - loop["requests"]
        ends = emulator.interactions()
        latencies = []
        for job_id in ids:
            job = app.store.get_job(job_id)
            end = ends.get(job.interaction_id, {}).get("ends_at")
            if end and job.finished_at:
                latencies.append((job.finished_at - datetime.fromisoformat(end)).total_seconds())
        research = app.store.get_job(research_id)
        calls = [line.split()[1] for line in audit.read_text().splitlines()]
        research_requests = 1 + calls.count(research.interaction_id)  # its create, then these
        per_job = defaultdict(lambda: 1)  # every job's create, then its gets and streams
        for key in calls:
            per_job[key] += 1
        model_ids = {app.store.get_job(i).interaction_id for i in ids[:-1]}
        model_requests = [per_job[i] for i in model_ids]
        return {
            "mode": mode,
            "jobs": len(ids),
            "requests": total,
            "per_job": total / len(ids),
            "research_requests": research_requests,
            "model_max": max(model_requests, default=0),
            "model_mean": sum(model_requests) / max(1, len(model_requests)),
            "research_minutes": (research.finished_at - research.submitted_at).total_seconds()
            * speed
            / 60,
            "documented": loop["requests"],
            "p50": pct(latencies, 50),
            "p95": pct(latencies, 95),
            "cpu_per_job_ms": cpu / len(ids) * 1000,
            "emulator_cpu_per_job_ms": proc_cpu(emulator.process.pid) / len(ids) * 1000,
            "elapsed": elapsed,
            "stats": stats,
        }
    finally:
        app.close()
        emulator.close()


# -- 2. 10,000 in flight on one worker -------------------------------------------------------------


def create_directly(base_url: str, count: int) -> list[str]:
    """Create `count` model interactions on the emulator, 64 at a time, over plain HTTP."""
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> str:
        body = {"model": MODEL, "input": f"Question {n}: name a colour.", "background": True}
        reply = client.post("/v1/interactions", json=body, headers={"x-goog-api-key": KEY})
        reply.raise_for_status()
        return reply.json()["id"]

    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    with (
        httpx2.Client(base_url=base_url, timeout=120, limits=limits) as client,
        ThreadPoolExecutor(64) as pool,
    ):
        return list(pool.map(one, range(count)))


def record_submitted(app, interaction_ids: list[str]) -> None:
    """Jobs as the worker's own submission leaves them: queued, with their interaction ids."""
    from jobs.models import Job, JobStatus, new_job_id

    now = datetime.now(UTC)
    rows = []
    for n, interaction_id in enumerate(interaction_ids):
        job = Job(id=new_job_id(10), model=MODEL, created_at=now, submitted_at=now)
        job.status, job.remote_status = JobStatus.QUEUED.value, "queued"
        job.interaction_id, job.next_poll_at = interaction_id, now
        job.request_json = json.dumps({"model": MODEL, "input": f"Question {n}"})
        rows.append(job)
    insert_jobs(app, rows)


def inflight_run(count: int, workdir: Path) -> dict:
    """The emulator's clock is held while the jobs are created (directly, by the benchmark: on
    this machine the worker's own submission would take most of the run) and recorded as queued;
    the worker follows them all (up to 200 by stream, the rest polled; a job due for a poll is
    polled before it is streamed); then the clock moves on and every job ends at once."""
    emulator = Emulator(speed=1.0, fake_clock=True)
    home = workdir / "run-inflight"
    env = write_config(home, {"follow": "stream", "tick": 1.0, "stream_idle": 600.0, "batch": 50})
    app = open_service(env, emulator.url)
    try:
        started = time.monotonic()
        record_submitted(app, create_directly(emulator.url, count))
        setup = time.monotonic() - started
        worker = start_worker(env, emulator.url)
        wait_ready(worker)
        time.sleep(20)  # the worker takes them up: streams open, polls paced
        live = emulator.stats()["interactions"]
        cpu1 = proc_cpu(worker.pid)
        emulator.advance(60)  # every model job (3-15 simulated seconds) ends now
        finished_at = time.monotonic()
        wait_until(
            lambda: counts(app).get("completed", 0) == count, 1800, "all recorded", interval=0.5
        )
        recorded_after = time.monotonic() - finished_at
        cpu_track = proc_cpu(worker.pid) - cpu1
        emulator_cpu = proc_cpu(emulator.process.pid)
        cpu, rss = stop_worker(worker)
        stats = emulator.stats()["requests"]
        return {
            "jobs": count,
            "setup_seconds": setup,
            "running_at_once": live["running"],
            "recorded_within": recorded_after,
            "peak_rss_mb": rss,
            "cpu_per_job_ms": cpu / count * 1000,
            "cpu_record_ms": cpu_track / count * 1000,
            "record_cpu_share": cpu_track / max(recorded_after, 1e-9),
            "emulator_cpu_ms": emulator_cpu / count * 1000,
            "stats": stats,
        }
    finally:
        app.close()
        emulator.close()


# -- 3. PostgreSQL, several workers -----------------------------------------------------------------


def overlaps(audit: Path) -> int:
    spans = defaultdict(list)
    for line in audit.read_text().splitlines():
        _op, key, start, end, pid = line.split()
        spans[key].append((float(start), float(end), pid))
    clashes = 0
    for key_spans in spans.values():
        key_spans.sort()
        for a, b in zip(key_spans, key_spans[1:], strict=False):
            if b[0] < a[1] and a[2] != b[2]:
                clashes += 1
    return clashes


def scale_run(workers: int, count: int, admin_url: str, workdir: Path) -> dict:
    import sqlalchemy as sa

    name = f"jobs_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    emulator = Emulator(speed=200.0)
    home = workdir / f"run-pg-{workers}"
    env = write_config(
        home, {"follow": "stream", "tick": 0.5, "stream_idle": 300.0, "batch": 50}, url
    )
    audit = home / "audit.log"
    app = open_service(env, emulator.url)
    try:
        ids = record_jobs(
            app, [(MODEL, None, f"Question {n}: name a colour.") for n in range(count)]
        )
        procs = [start_worker(env, emulator.url, audit) for _ in range(workers)]
        for proc in procs:
            wait_ready(proc)
        started = time.monotonic()
        wait_until(
            lambda: counts(app).get("completed", 0) == count, 3600, "all completed", interval=1.0
        )
        elapsed = time.monotonic() - started
        emulator_cpu = proc_cpu(emulator.process.pid)
        usage = [stop_worker(proc) for proc in procs]
        cpu = sum(u[0] for u in usage)
        return {
            "workers": workers,
            "jobs": len(ids),
            "seconds": elapsed,
            "jobs_per_s": count / elapsed,
            "cpu_s": cpu,
            "cpu_per_job_ms": cpu / count * 1000,
            "emulator_cpu_per_job_ms": emulator_cpu / count * 1000,
            "overlaps": overlaps(audit),
            "stats": emulator.stats()["requests"],
        }
    finally:
        app.close()
        emulator.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# -- the worker process ------------------------------------------------------------------------------


class AuditedGateway:
    """Every get and every stream (open to close) as `op key start end pid`, O_APPEND lines."""

    def __init__(self, inner, path: str) -> None:
        self.inner = inner
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _line(self, op: str, key: str, start: float) -> None:
        os.write(self.fd, f"{op} {key} {start:.6f} {time.monotonic():.6f} {os.getpid()}\n".encode())

    def get(self, interaction_id):
        start = time.monotonic()
        try:
            return self.inner.get(interaction_id)
        finally:
            self._line("get", interaction_id, start)

    def open_stream(self, interaction_id, last_event_id=None, **kwargs):
        start = time.monotonic()
        handle = self.inner.open_stream(interaction_id, last_event_id, **kwargs)
        original = handle.close

        def close() -> None:
            original()
            if not getattr(handle, "_audited", False):
                handle._audited = True
                self._line("stream", interaction_id, start)

        handle.close = close
        return handle


def worker_main(audit: str) -> None:
    from jobs.app import build_app
    from jobs.worker import Worker

    app = build_app(kind="worker")
    if audit:
        app.service.gateway = AuditedGateway(app.service.gateway, audit)
    worker = Worker(app.service)
    print("ready", flush=True)
    try:
        worker.run(tick=float(app.settings["worker.tick"]))
    finally:
        app.close()


# -- main ----------------------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def load() -> str:
    """The load average now: CPU figures survive a loaded machine, wall-clock ones do not."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    parser.add_argument("--models", type=int, help="model jobs in part 1")
    parser.add_argument("--inflight", type=int, help="jobs in flight in part 2")
    parser.add_argument("--scale-jobs", type=int, help="jobs per PostgreSQL run in part 3")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--pg", help="PostgreSQL admin URL for part 3 (needs CREATEDB)")
    parser.add_argument("--only", default="1,2,3")
    args = parser.parse_args()
    models = args.models or (200 if args.full else 30)
    inflight = args.inflight or (10_000 if args.full else 500)
    scale_jobs = args.scale_jobs or (20_000 if args.full else 500)
    parts = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="jobs-live-bench-"))
    print(machine())
    print(f"at the start: {load()}")
    print(
        f"emulator latency {LATENCY} s a request; store: SQLite unless said otherwise; {workdir}\n"
    )

    if "1" in parts:
        prompt, end = ten_minute_prompt()
        speed = 20.0
        print(f"1. requests per job, detection latency ({models} model jobs + 1 Deep Research run "
              f"of {end / 60:.1f} simulated min, emulator speed {speed:g})")  # fmt: skip
        runs = [follow_run(mode, models, prompt, speed, workdir) for mode in ("stream", "poll")]
        print(f"   {'':28} {'streamed':>10} {'polled':>10} {'SDK docs loop':>14}")
        s, p = runs
        print(
            f"   {'requests / job (all jobs)':28} {s['per_job']:>10.2f} {p['per_job']:>10.2f} {'':>14}"
        )
        print(
            f"   {'requests, the 10-min run':28} {s['research_requests']:>10} {p['research_requests']:>10} {s['documented']:>14}"
        )
        print(
            f"   {'docs loop / this, 10-min run':28} {s['documented'] / s['research_requests']:>9.1f}x {p['documented'] / p['research_requests']:>9.1f}x {'1.0x':>14}"
        )
        print(f"   {'detection latency p50 (s)':28} {s['p50']:>10.2f} {p['p50']:>10.2f}")
        print(f"   {'detection latency p95 (s)':28} {s['p95']:>10.2f} {p['p95']:>10.2f}")
        print(
            f"   {'model job: requests, mean':28} {s['model_mean']:>10.2f} {p['model_mean']:>10.2f}"
        )
        print(f"   {'model job: requests, most':28} {s['model_max']:>10} {p['model_max']:>10}")
        print(
            f"   {'worker CPU / job (ms)':28} {s['cpu_per_job_ms']:>10.1f} {p['cpu_per_job_ms']:>10.1f}"
        )
        print(
            f"   {'emulator CPU / job (ms)':28} {s['emulator_cpu_per_job_ms']:>10.1f} {p['emulator_cpu_per_job_ms']:>10.1f}"
        )
        print(
            "   targets: a streamed job at most 3 requests (create, stream, confirming get); "
            "detection latency p95 < 1 s streamed"
        )
        for run in runs:
            print(
                f"   {run['mode']}: emulator saw {run['stats']} (the docs loop's {run['documented']} included)"
            )
        print(f"   {load()}\n")

    if "2" in parts:
        print(
            f"2. {inflight:,} model jobs in flight on one worker (SQLite, stream cap 200, 32 calls at once)"
        )
        r = inflight_run(inflight, workdir)
        print(
            f"   created and recorded as queued in {r['setup_seconds']:.0f} s (by the benchmark); running at once: {r['running_at_once']:,}"
        )
        print(f"   all recorded within {r['recorded_within']:.1f} s of the emulator finishing them")
        print(f"   worker peak RSS {r['peak_rss_mb']:.0f} MB; worker CPU per recorded job {r['cpu_per_job_ms']:.1f} ms "
              f"(from the emulator's end to the last record: {r['cpu_record_ms']:.1f} ms)")  # fmt: skip
        print(
            f"   worker busy {r['record_cpu_share'] * 100:.0f}% of one core while recording; "
            f"emulator CPU per job {r['emulator_cpu_ms']:.1f} ms"
        )
        print(
            "   targets: all recorded within 60 s of the emulator finishing them; peak RSS < 300 MB"
        )
        print(f"   emulator saw {r['stats']}")
        print(f"   {load()}\n")

    if "3" in parts:
        if not args.pg:
            print("3. skipped: give --pg postgresql+psycopg://user@host:5432/db")
        else:
            print(f"3. PostgreSQL, {scale_jobs:,} model jobs, emulator speed 200")
            print(
                "   (CPU: all workers together; each job is created, streamed and confirmed by a "
                "get; the emulator and PostgreSQL share the same cores)"
            )
            print(
                f"   {'workers':>7} {'seconds':>8} {'jobs/s':>8} {'CPU s':>7} {'CPU/job ms':>11} {'emulator ms/job':>16} {'followed by two at once':>24}"
            )
            for n in [int(w) for w in args.workers.split(",")]:
                r = scale_run(n, scale_jobs, args.pg, workdir)
                print(
                    f"   {n:>7} {r['seconds']:>8.1f} {r['jobs_per_s']:>8.0f} {r['cpu_s']:>7.1f} {r['cpu_per_job_ms']:>11.1f} {r['emulator_cpu_per_job_ms']:>16.1f} {r['overlaps']:>24}"
                )
                print(f"           emulator saw {r['stats']}; {load()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker_main(sys.argv[2] if len(sys.argv) > 2 else "")
    else:
        main()
