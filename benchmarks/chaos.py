"""A chaos campaign: can anything lose a job or pay for one twice?

Starts the Interactions API emulator (real clock, sped up), hundreds of jobs from several submitter
processes, and several `jobs worker` processes sharing one store. Meanwhile it SIGKILLs workers at
random moments (and restarts them), starts some workers and submitters with a named crash point
(JOBS_CRASH_AT) so they die at the worst instants, answers every create with 429 for a while (a
storm), and fails a share of the polls with 5xx. Then it waits until every job is terminal or
`submit_unknown` and checks the store against the emulator's own counters.

    .venv/bin/python benchmarks/chaos.py [--jobs 300] [--workers 3] [--kills 30] [--seed 1]
                                         [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

It prints one line,

    chaos: jobs=N lost=0 duplicated_creates=0 submit_unknown=K kills_survived=M seconds=S

and exits non-zero if a job was lost (accepted but missing, or never settled) or created twice.
A job whose submitter was killed between `create` and recording its id becomes `submit_unknown`:
the design's answer (never resubmitted without the user), so it is counted, not a failure. With
--db-url naming a PostgreSQL server, a fresh database is created there for the run and dropped after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

JOBS_BIN = Path(sys.executable).with_name("jobs")
AGENT = "deep-research-preview-04-2026"
WORKER_CRASH_POINTS = (
    "poll.after_get",
    "store.terminal_uncommitted",
    "submit.after_create",
    "submit.before_create",
)
SUBMIT_CRASH_POINTS = ("submit.after_create", "submit.before_create")
# Short leases and timeouts so that a killed worker's jobs are taken over within seconds. A killed
# submitter's job waits create_timeout + 30 s before it is declared submit_unknown.
CONFIG = """\
[api]
timeout = 3.0
create_timeout = 3.0

[worker]
tick = 0.2
lease = 8.0
batch = 20

[polling]
min_interval = 0.3
max_interval = 1.0
agent_max_interval = 2.0
max_error_backoff = 3.0

[submit]
max_wait = 0.0
"""


def submitter(count: int, start: int, agents_every: int) -> None:
    """Role: submit `count` jobs like `jobs submit` does, printing each accepted id."""
    from jobs.app import build_app
    from jobs.service import SubmitSpec

    app = build_app(kind="cli")
    for n in range(start, start + count):
        agent = AGENT if agents_every and n % agents_every == 0 else None
        job = app.service.submit_new(
            SubmitSpec(prompt=f"chaos question {n}", agent=agent, labels={"chaos": "1"})
        )
        print(job.id, flush=True)
    app.close()


@contextlib.contextmanager
def database(url: str | None, home: Path) -> Iterator[str]:
    """The store of the run: SQLite in `home`, or a fresh database on the PostgreSQL server `url`."""
    if not url:
        yield f"sqlite:///{home / 'jobs.db'}"
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin_url = make_url(url)
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"jobs_chaos_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class Campaign:
    def __init__(self, args: argparse.Namespace, base_url: str, db_url: str, home: Path) -> None:
        self.args, self.rng = args, random.Random(args.seed)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "GEMINI_", "GOOGLE_"))
        }
        self.env.update(
            JOBS_HOME=str(home),
            JOBS_DB_URL=db_url,
            GEMINI_API_KEY="chaos-key",
            GOOGLE_GEMINI_BASE_URL=base_url,
            PYTHONUNBUFFERED="1",
        )
        self.home = home
        self.logs = home / "logs"
        self.logs.mkdir()
        self.workers: list[subprocess.Popen] = []
        self.submitters: list[tuple[subprocess.Popen, Path]] = []
        self.kills = 0
        self.spawned = 0

    def _log(self, name: str):
        self.spawned += 1
        return open(
            self.logs / f"{self.spawned:04d}-{name}.log", "w"
        )  # the child keeps its own copy

    def start_worker(self) -> subprocess.Popen:
        env = dict(self.env)
        if self.rng.random() < self.args.crash_share:
            env["JOBS_CRASH_AT"] = self.rng.choice(WORKER_CRASH_POINTS)
        with self._log("worker") as log:
            process = subprocess.Popen(
                [str(JOBS_BIN), "worker", "--quiet"], env=env, stdout=log, stderr=log
            )
        self.workers.append(process)
        return process

    def start_submitter(self, count: int, start: int, crash_at: str | None = None) -> None:
        env = dict(self.env)
        if crash_at:
            env["JOBS_CRASH_AT"] = crash_at
        out = self.logs / f"submitted-{start}.txt"
        command = [
            sys.executable,
            __file__,
            "--role",
            "submit",
            str(count),
            str(start),
            str(self.args.agents_every),
        ]
        with open(out, "w") as stdout, self._log("submitter") as stderr:
            process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        self.submitters.append((process, out))

    def supervise(self, until: float) -> None:
        """Keep `--workers` workers alive: restart the dead, SIGKILL one now and then."""
        next_kill = time.monotonic() + self.rng.uniform(0.3, 1.5)
        while time.monotonic() < until:
            for process in list(self.workers):
                if process.poll() is not None:
                    self.workers.remove(process)
                    if process.returncode == -signal.SIGKILL:
                        self.kills += 1  # died at its crash point
                    else:
                        raise SystemExit(
                            f"a worker exited by itself with {process.returncode}; see {self.logs}"
                        )
            while len(self.workers) < self.args.workers:
                self.start_worker()
            if self.kills < self.args.kills and time.monotonic() >= next_kill and self.workers:
                victim = self.rng.choice(self.workers)
                victim.kill()
                victim.wait()
                self.workers.remove(victim)
                self.kills += 1
                next_kill = time.monotonic() + self.rng.uniform(0.3, 1.5)
            if self.done_killing() and self.settled():
                return
            time.sleep(0.1)

    def done_killing(self) -> bool:
        return self.kills >= self.args.kills and all(
            p.poll() is not None for p, _ in self.submitters
        )

    def settled(self) -> bool:
        counts = self.store.count_by_status()
        return bool(counts) and all(s in SETTLED for s in counts)

    def stop_workers(self) -> None:
        for process in self.workers:
            process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


SETTLED = {
    "completed",
    "failed",
    "cancelled",
    "incomplete",
    "budget_exceeded",
    "expired",
    "submit_unknown",
}


def run(args: argparse.Namespace) -> int:
    from jobs.db import open_database
    from jobs.emulator import EmulatorServer
    from jobs.service import JOB_LABEL
    from jobs.store import JobStore

    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="jobs-chaos-") as tmp,
        EmulatorServer(speed=args.speed, seed=args.seed) as server,
    ):
        home = Path(tmp)
        (home / "config.toml").write_text(CONFIG)
        (home / "config.toml").chmod(0o600)
        faults = server.backend.faults
        faults.fail("get", 503, rate=args.get_errors)
        faults.fail("get", 500, rate=args.get_errors / 3)
        with database(args.db_url, home) as db_url:
            db = open_database(db_url)
            campaign = Campaign(args, server.base_url, db_url, home)
            campaign.store = JobStore(db)
            # Submitters that die at a crash point during their first create.
            crashers = min(args.crash_submitters, args.jobs)
            for n in range(crashers):
                campaign.start_submitter(1, n, crash_at=SUBMIT_CRASH_POINTS[n % 2])
            rest = args.jobs - crashers
            per = -(-rest // args.submitters) if rest else 0
            for i, start in enumerate(range(crashers, args.jobs, per or 1)):
                if i < args.submitters:
                    campaign.start_submitter(min(per, args.jobs - start), start)
            for _ in range(args.workers):
                campaign.start_worker()

            # A 429 storm on create, some seconds into the run.
            def storm() -> None:
                time.sleep(args.storm_at)
                rule = faults.fail("create", 429, retry_after=1.0)
                time.sleep(args.storm)
                faults.remove(rule.id)

            threading.Thread(target=storm, daemon=True).start()
            deadline = time.monotonic() + args.timeout
            try:
                campaign.supervise(until=deadline)
            finally:
                campaign.stop_workers()
                for process, _ in campaign.submitters:
                    if process.poll() is None:
                        process.kill()

            accepted = []
            for process, out in campaign.submitters:
                accepted += out.read_text().split()
                campaign.kills += process.returncode == -signal.SIGKILL  # died at its crash point
            store = campaign.store
            rows = {j.id: j for j in store.list_jobs()}
            unsettled = [j for j in rows.values() if j.status not in SETTLED]
            missing = [i for i in accepted if i not in rows]
            creates = Counter(
                {
                    k.split("=", 1)[1]: v
                    for k, v in server.backend.stats()["creates_by_label"].items()
                    if k.startswith(f"{JOB_LABEL}=")
                }
            )
            duplicated = sum(max(0, n - 1) for n in creates.values())
            orphans = [i for i in creates if i not in rows]
            no_create = [j.id for j in rows.values() if j.interaction_id and not creates[j.id]]
            problems = store.integrity_check()
            logs = "\n".join(p.read_text(errors="replace") for p in campaign.logs.glob("*.log"))
            locked = logs.lower().count("database is locked")
            tracebacks = logs.count("Traceback (most recent call last)")
            submit_unknown = sum(1 for j in rows.values() if j.status == "submit_unknown")
            db.close()
            lost = len(missing) + len(unsettled) + len(orphans)
            seconds = time.monotonic() - started
            print(
                f"chaos: jobs={len(rows)} lost={lost} duplicated_creates={duplicated} "
                f"submit_unknown={submit_unknown} kills_survived={campaign.kills} seconds={seconds:.0f}",
                flush=True,
            )
            details = {
                "accepted": len(accepted),
                "missing": missing[:10],
                "unsettled": [(j.id, j.status) for j in unsettled[:10]],
                "orphan_creates": orphans[:10],
                "id_without_create": no_create[:10],
                "integrity": problems[:5],
                "locked_in_logs": locked,
                "tracebacks_in_logs": tracebacks,
                "statuses": dict(Counter(j.status for j in rows.values())),
                "requests": server.backend.stats()["requests"],
            }
            print(f"chaos details: {details}", file=sys.stderr)
            bad = (
                lost
                or duplicated
                or no_create
                or problems
                or locked
                or tracebacks
                or len(accepted) < args.jobs - crashers
            )
            return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=300, help="jobs to submit (default 300)")
    parser.add_argument(
        "--workers", type=int, default=3, help="worker processes kept alive (default 3)"
    )
    parser.add_argument("--kills", type=int, default=30, help="worker deaths to cause (default 30)")
    parser.add_argument("--submitters", type=int, default=3, help="submitter processes (default 3)")
    parser.add_argument(
        "--crash-submitters",
        type=int,
        default=6,
        help="submitters that die at a crash point (default 6)",
    )
    parser.add_argument(
        "--crash-share", type=float, default=0.3, help="share of workers started with a crash point"
    )
    parser.add_argument(
        "--agents-every",
        type=int,
        default=10,
        help="every Nth job is a Deep Research job (0: none)",
    )
    parser.add_argument(
        "--speed", type=float, default=100.0, help="emulator speed (simulated s per real s)"
    )
    parser.add_argument(
        "--storm-at", type=float, default=3.0, help="seconds into the run the 429 storm starts"
    )
    parser.add_argument("--storm", type=float, default=8.0, help="seconds of 100%% 429 on create")
    parser.add_argument(
        "--get-errors",
        type=float,
        default=0.15,
        help="share of gets answered 503 (and a third as many 500)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--db-url", help="a PostgreSQL server to run on (a fresh database is created there)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds"
    )
    args = parser.parse_args()
    if args.role:
        role, *rest = args.role
        if role == "submit":
            submitter(int(rest[0]), int(rest[1]), int(rest[2]))
            return
        parser.error(f"unknown role {role}")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
