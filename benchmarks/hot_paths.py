"""CPU per call of the worker's hot paths, each alone (what live_bench.py's totals are made of).

- gateway: `get` and a whole `get(stream=True)` of a finished model job (about 25 events), through
  google-genai against the emulator in its own process (latency 0), CPU of the calling thread;
- store: terminal writes one by one (`JobStore.record_terminal`) against batched
  (`TrackingStore.record_terminals`), and a 25-event journal append a job (`EventStore.append_many`),
  on SQLite (a temporary file) or the database given with --db.

    .venv/bin/python benchmarks/hot_paths.py [--calls 300] [--db postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import live_bench  # noqa: E402 - the emulator process and direct creates


def gateway_paths(calls: int) -> None:
    from jobs.config import load_settings
    from jobs.gateway import Gateway

    emulator = live_bench.Emulator(speed=1.0, fake_clock=True)
    try:
        emulator.http.post("/_emulator/config", json={"latency": 0.0})
        ids = live_bench.create_directly(emulator.url, calls)
        emulator.advance(60)  # all finished
        home = tempfile.mkdtemp(prefix="jobs-hot-")
        environ = {"GEMINI_API_KEY": live_bench.KEY, "GOOGLE_GEMINI_BASE_URL": emulator.url, "JOBS_HOME": home}  # fmt: skip
        gateway = Gateway(load_settings(environ))
        gateway.get(ids[0])  # the SDK client is built before timing

        def stream(interaction_id: str) -> None:
            with gateway.open_stream(interaction_id) as events:
                for _event in events:
                    pass

        for name, call in (("get", gateway.get), ("get(stream=True), whole", stream)):
            started = time.thread_time()
            for interaction_id in ids:
                call(interaction_id)
            print(
                f"   {name:28} {(time.thread_time() - started) / calls * 1000:6.2f} ms CPU a call"
            )
    finally:
        emulator.close()


def store_paths(jobs: int, db_url: str | None) -> None:
    from jobs.db import open_database
    from jobs.models import Job, JobStatus, new_job_id
    from jobs.store import EventStore, JobStore, TerminalResult
    from jobs.store.events import ReceivedEvent
    from jobs.store.tracking import TerminalWrite, TrackingStore

    database = open_database(db_url or f"sqlite:///{tempfile.mkdtemp(prefix='jobs-hot-')}/jobs.db")
    now = datetime.now(UTC)

    def leased() -> list[str]:
        rows = []
        for _ in range(jobs):
            job = Job(id=new_job_id(10), model="m", created_at=now, submitted_at=now)
            job.status, job.interaction_id = JobStatus.IN_PROGRESS.value, new_job_id(14)
            job.lease_owner, job.lease_expires_at = "bench", now + timedelta(minutes=5)
            rows.append(job)
        with database.write() as session:
            session.add_all(rows)
        return [job.id for job in rows]

    steps = [{"type": "model_output", "content": [{"type": "text", "text": "Blue " * 40}]}]
    raw = {"status": "completed", "steps": steps, "usage": {"total_tokens": 12}}
    result = TerminalResult(output_text="Blue " * 40, thoughts=[], steps=steps, usage=raw["usage"], errors=[], raw=raw)  # fmt: skip
    usage = {"total_tokens": 12}
    try:
        ids = leased()
        started = time.process_time()
        for job_id in ids:
            JobStore(database).record_terminal(job_id, status=JobStatus.COMPLETED, remote_status="completed", now=now, result=result, usage=usage, owner="bench")  # fmt: skip
        one = (time.process_time() - started) / jobs * 1000
        ids = leased()
        writes = [TerminalWrite(job_id=i, status=JobStatus.COMPLETED, remote_status="completed", result=result, usage=usage) for i in ids]  # fmt: skip
        started = time.process_time()
        TrackingStore(database).record_terminals("bench", writes, now)
        batched = (time.process_time() - started) / jobs * 1000
        print(f"   terminal write, one by one   {one:6.2f} ms CPU a job")
        print(f"   terminal write, batched      {batched:6.2f} ms CPU a job ({jobs} a transaction)")
        events = []
        for k in range(25):
            event = {"event_type": "step.delta", "event_id": f"e{k}", "delta": {"text": "x"}}
            events.append(ReceivedEvent(event, json.dumps(event)))
        started = time.process_time()
        EventStore(database).append_many([(i, events, [now] * 25) for i in ids], now)
        appended = (time.process_time() - started) / jobs * 1000
        print(f"   journal append, 25 events    {appended:6.2f} ms CPU a job ({jobs} jobs at once)")
    finally:
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls (and jobs) per figure")
    parser.add_argument("--db", help="a blank database URL for the store figures (default SQLite)")
    args = parser.parse_args()
    print(live_bench.machine())
    print(f"at the start: {live_bench.load()}")
    print("gateway (emulator, latency 0):")
    gateway_paths(args.calls)
    print(f"store ({'SQLite' if not args.db else 'the given database'}):")
    store_paths(args.calls, args.db)


if __name__ == "__main__":
    main()
