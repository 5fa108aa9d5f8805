"""What webhooks save, and what a lost delivery costs: requests per completed job and latency.

Runs the runner (real google-genai SDK, SQLite store) against the in-process emulator on a fake
clock, with its webhook receiver on a loopback port, in four scenarios over the same jobs:

  polling       no public URL: the worker polls (the baseline)
  webhooks      every job created with a per-request webhook; deliveries recorded at once
  lost          webhooks on, but the emulator loses every delivery: only the fallback poll remains
  faulty        webhooks on; duplicates, a receiver that is down once (retried), delays

For each: API requests per completed job (create + get + stream; the goal with webhooks is
create + one get = 2.0) and latency, in simulated seconds, from the moment the interaction ended
(its `updated`) to the moment the job was recorded as ended. The worker runs a pass every
`worker.tick` (2 s) of simulated time.

    .venv/bin/python benchmarks/webhook_bench.py [--models 40] [--research 8]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.clock import FakeClock  # noqa: E402
from jobs.config import load_settings  # noqa: E402
from jobs.db import open_database  # noqa: E402
from jobs.emulator import EmulatorServer  # noqa: E402
from jobs.gateway import Gateway  # noqa: E402
from jobs.service import JobService, SubmitSpec  # noqa: E402
from jobs.store import JobStore  # noqa: E402
from jobs.webhook_routes import WebhookListener  # noqa: E402

AGENT = "deep-research-preview-04-2026"
STEP = 1.0  # simulated seconds per step
ACTIVE = ("pending", "submitting", "queued", "in_progress", "requires_action", "unknown")


def run(scenario: str, models: int, research: int, fallback: float) -> dict:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as home, EmulatorServer(clock=clock) as emulator:
        holder: dict = {}
        listener = WebhookListener(lambda: holder["service"], "127.0.0.1", 0).start()
        try:
            environ = {"JOBS_HOME": home, "GEMINI_API_KEY": "bench", "GOOGLE_GEMINI_BASE_URL": emulator.base_url}  # fmt: skip
            overrides = {"webhooks.fallback_interval": fallback}
            if scenario != "polling":
                overrides["webhooks.public_url"] = listener.url
            settings = load_settings(environ).with_overrides(**overrides)
            database = open_database(settings.db_url)
            service = JobService(JobStore(database), Gateway(settings), clock, settings, owner="bench", rng=random.Random(1))  # fmt: skip
            holder["service"] = service
            hooks = emulator.backend.webhooks
            if scenario == "lost":
                hooks.add_fault(kind="lose", times=None)
            elif scenario == "faulty":
                hooks.add_fault(kind="duplicate", times=max(1, (models + research) // 3))
                hooks.add_fault(kind="down", times=max(1, (models + research) // 4))
                hooks.add_fault(kind="delay", seconds=5, times=max(1, (models + research) // 5))
            ids = [service.submit_new(SubmitSpec(prompt=f"Question {i} about tides and moons")).id for i in range(models)]  # fmt: skip
            ids += [service.submit_new(SubmitSpec(prompt=f"Research topic {i}: glass recycling", agent=AGENT)).id for i in range(research)]  # fmt: skip
            tick = float(settings["worker.tick"])
            elapsed, since_pass = 0.0, tick
            while elapsed < 4 * 3600:
                if elapsed % 10 == 0 and all(service.store.count_by_status().get(s, 0) == 0 for s in ACTIVE):  # fmt: skip
                    break
                clock.advance(STEP)
                elapsed += STEP
                emulator.backend.dispatch_webhooks()  # deliveries due now (the thread does too)
                since_pass += STEP
                if since_pass >= tick:
                    service.run_pass()
                    since_pass = 0.0
            jobs = [service.get_job(i) for i in ids]
            stats = emulator.backend.stats()
            database.close()
        finally:
            listener.stop()
    done = [j for j in jobs if j.job_status.is_terminal]
    latency = [(j.finished_at - j.remote_updated_at).total_seconds() for j in done if j.finished_at and j.remote_updated_at]  # fmt: skip
    requests = stats["requests"]
    api = requests["create"] + requests["get"] + requests["stream"]
    return {
        "scenario": scenario,
        "jobs": len(ids),
        "completed": sum(j.status == "completed" for j in jobs),
        "creates": requests["create"],
        "gets": requests["get"],
        "per_job": api / max(1, len(done)),
        "latency_mean": statistics.fmean(latency) if latency else float("nan"),
        "latency_p50": statistics.median(latency) if latency else float("nan"),
        "latency_max": max(latency) if latency else float("nan"),
        "webhooks": stats["webhooks"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40, help="model jobs (3-15 s each)")
    parser.add_argument("--research", type=int, default=8, help="Deep Research jobs (5-25 min)")
    parser.add_argument("--fallback", type=float, default=300.0, help="webhooks.fallback_interval")
    args = parser.parse_args()
    print(f"{args.models} model + {args.research} Deep Research jobs per scenario; worker pass every 2 s; fallback poll every {args.fallback:g} s (simulated)")  # fmt: skip
    print(f"{'scenario':<9} {'completed':>9} {'creates':>7} {'gets':>6} {'req/job':>8} {'latency mean':>12} {'p50':>7} {'max':>7}  webhook deliveries")  # fmt: skip
    for scenario in ("polling", "webhooks", "lost", "faulty"):
        r = run(scenario, args.models, args.research, args.fallback)
        w = r["webhooks"]
        hooks = f"delivered {w['delivered']}, failed attempts {w['failed_attempts']}, duplicates {w['duplicates']}, lost {w['lost']}" if scenario != "polling" else "-"  # fmt: skip
        print(f"{r['scenario']:<9} {r['completed']:>4}/{r['jobs']:<4} {r['creates']:>7} {r['gets']:>6} {r['per_job']:>8.2f} {r['latency_mean']:>11.1f}s {r['latency_p50']:>6.1f}s {r['latency_max']:>6.1f}s  {hooks}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
