"""Small programs the multi-process tests run as `python drivers.py ROLE ARGS...`.

They use the same code as `jobs worker` / `jobs submit` (build_app, Worker, JobService), configured
by the environment (JOBS_HOME, JOBS_DB_URL, GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL). The worker
role also writes an audit line for every API call it makes, `op key start end pid`, with
CLOCK_MONOTONIC times (one clock for all processes on the machine), so a test can prove that no job
was polled by two workers at once.
"""

from __future__ import annotations

import os
import sys
import time


class AuditedGateway:
    """Wraps a Gateway: one line per call, appended (O_APPEND: whole lines, never interleaved)."""

    def __init__(self, inner, path: str) -> None:
        self.inner = inner
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _audited(self, op, key, call, *args):
        start = time.monotonic()
        try:
            return call(*args)
        finally:
            os.write(
                self.fd, f"{op} {key} {start:.6f} {time.monotonic():.6f} {os.getpid()}\n".encode()
            )

    def create(self, body):
        return self._audited("create", body["labels"]["jobs-id"], self.inner.create, body)

    def get(self, interaction_id):
        return self._audited("get", interaction_id, self.inner.get, interaction_id)

    def cancel(self, interaction_id):
        return self._audited("cancel", interaction_id, self.inner.cancel, interaction_id)


def worker(audit: str, tick: str) -> None:
    from jobs.app import build_app
    from jobs.worker import Worker

    app = build_app(kind="worker")
    app.service.gateway = AuditedGateway(app.service.gateway, audit)
    app.service.gateway_ready()
    print("ready", flush=True)
    try:
        Worker(app.service).run(tick=float(tick))
    finally:
        app.close()


def writer(count: str, prefix: str) -> None:
    """Record `count` jobs: every other one sent at once (`jobs submit`), the rest left to workers.
    Prints each accepted id; lists now and then, as a user at a terminal would."""
    from jobs.app import build_app
    from jobs.service import SubmitSpec
    from jobs.store import JobFilter

    app = build_app(kind="cli")
    service = app.service
    for i in range(int(count)):
        spec = SubmitSpec(prompt=f"{prefix} question {i}", labels={"writer": prefix})
        job = service.submit_new(spec) if i % 2 else service.create_job(spec)
        print(job.id, flush=True)
        if i % 10 == 0:
            service.list_jobs(JobFilter(limit=50))
            service.store.count_by_status()
    app.close()


if __name__ == "__main__":
    {"worker": worker, "writer": writer}[sys.argv[1]](*sys.argv[2:])
