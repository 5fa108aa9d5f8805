"""T19: the job life cycle as a hypothesis state machine.

Rules: record jobs, submit them now, advance the clock, run worker passes, cancel, resubmit, inject
one-off API faults, crash a process at any named point (a victim service that dies: its exception
unwinds like a SIGKILL, leaving its leases behind), and restart (a new service instance). After
every step: every transition observed is allowed, terminal states are absorbing, nothing is
half-written, and no job was created remotely more than once (plus explicit resubmits).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from reliability_checks import check_invariants

import jobs.store.jobs
from jobs.clock import FakeClock
from jobs.config import load_settings
from jobs.db import open_database
from jobs.errors import GatewayError, InvalidTransition
from jobs.gateway import Gateway
from jobs.models import JobStatus
from jobs.service import JobService, SubmitSpec
from jobs.store import JobStore

pytestmark = pytest.mark.slow


class Crash(BaseException):
    """The process died here. BaseException: no `except Exception` in the code can swallow it."""


class CrashingGateway:
    """A gateway that dies before or after the first call of one operation."""

    def __init__(self, inner, op: str, after: bool) -> None:
        self.inner, self.op, self.after = inner, op, after

    def __getattr__(self, name):
        call = getattr(self.inner, name)
        if name != self.op:
            return call

        def dying(*args, **kwargs):
            if not self.after:
                raise Crash(f"before {name}")
            call(*args, **kwargs)
            raise Crash(f"after {name}")

        return dying


CRASH_POINTS = {
    "submit.before_create": ("create", False),
    "submit.after_create": ("create", True),
    "poll.before_get": ("get", False),
    "poll.after_get": ("get", True),
    "cancel.after_send": ("cancel", True),
    "store.terminal_uncommitted": None,
}
LIVE = {JobStatus.QUEUED, JobStatus.IN_PROGRESS, JobStatus.REQUIRES_ACTION, JobStatus.UNKNOWN}
# observed status -> statuses allowed at the next observation (several transitions may happen in one
# step); terminal ones must not change at all (checked with their output by check_invariants).
ALLOWED = {
    JobStatus.PENDING: set(JobStatus),
    JobStatus.SUBMITTING: set(JobStatus),
    # only `jobs resubmit` takes it back to pending; a late record of its id makes it live
    JobStatus.SUBMIT_UNKNOWN: {JobStatus.SUBMIT_UNKNOWN, JobStatus.CANCELLED} | LIVE,
    **{s: LIVE | {t for t in JobStatus if t.is_terminal} for s in LIVE},
}


class JobsMachine(RuleBasedStateMachine):
    server = None  # the emulator server, set by the test

    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="jobs-sm-"))
        self.clock = FakeClock()
        self.server.backend.reset(clock=self.clock)
        self.settings = load_settings(
            {
                "JOBS_HOME": str(self.home),
                "GEMINI_API_KEY": "test-key",
                "GOOGLE_GEMINI_BASE_URL": self.server.base_url,
            }
        ).with_overrides(**{"api.timeout": 5.0, "api.create_timeout": 5.0, "worker.batch": 10})
        self.databases = []
        self.count = 0
        self.accepted: list[str] = []
        self.snap = {}
        self.resubmitted: set[str] = set()
        self.service = self.new_service()

    def new_service(self, gateway=None) -> JobService:
        self.count += 1
        database = open_database(self.settings.db_url)
        self.databases.append(database)
        return JobService(
            JobStore(database),
            gateway or Gateway(self.settings),
            self.clock,
            self.settings,
            owner=f"process-{self.count}",
            rng=random.Random(self.count),
        )

    def teardown(self) -> None:
        for database in self.databases:
            database.close()
        shutil.rmtree(self.home, ignore_errors=True)

    jobs = Bundle("jobs")

    @initialize(target=jobs)
    def first_job(self):
        return self.record(False)

    @rule(target=jobs, agent=st.booleans())
    def record(self, agent):
        spec = SubmitSpec(
            prompt=f"question {len(self.accepted)}",
            agent="deep-research-preview-04-2026" if agent else None,
        )
        job = self.service.create_job(spec)
        self.accepted.append(job.id)
        return job.id

    @rule(target=jobs)
    def submit_now(self):
        try:
            job = self.service.submit_new(SubmitSpec(prompt=f"now {len(self.accepted)}"))
        except GatewayError:
            return self.accepted[
                -1
            ]  # an auth/unreachable error leaves no job (no such faults here)
        self.accepted.append(job.id)
        return job.id

    @rule(seconds=st.sampled_from([0, 2, 10, 60, 900]))
    def tick(self, seconds):
        """Time passes, then the worker runs a pass (recover, submit, poll)."""
        self.clock.advance(seconds)
        self.service.run_pass()

    @rule(job=jobs)
    def cancel(self, job):
        with contextlib.suppress(InvalidTransition, GatewayError):
            self.service.cancel(job)

    @rule(job=jobs)
    def resubmit(self, job):
        if self.service.get_job(job).job_status is JobStatus.SUBMIT_UNKNOWN:
            self.resubmitted.add(job)
            with contextlib.suppress(GatewayError):
                self.service.resubmit(job)

    @rule(
        fault=st.sampled_from(
            [
                "create-500-accepted",
                "create-429",
                "create-503",
                "get-503",
                "get-429",
                "get-garbage",
                "cancel-503",
            ]
        )
    )
    def fault(self, fault):
        faults = self.server.backend.faults
        op, kind = fault.split("-", 1)
        if kind == "500-accepted":
            faults.accept_then_fail(op, 500, times=1)
        elif kind == "garbage":
            faults.malformed(op, "invalid_json", times=1)
        else:
            faults.fail(op, int(kind), times=1, retry_after=3.0)

    def crash_at(self, point, job=None):
        """Another process runs a pass (or sends a cancel) and dies at `point`; its leases stay."""
        how = CRASH_POINTS[point]
        gateway = Gateway(self.settings)
        victim = self.new_service(CrashingGateway(gateway, *how) if how else gateway)
        original = jobs.store.jobs.crash_point

        def die(name):
            if name == point:
                raise Crash(name)

        jobs.store.jobs.crash_point = die
        try:
            if job is not None:
                victim.cancel(job)
            else:
                victim.run_pass()
        except (Crash, InvalidTransition, GatewayError):
            pass
        finally:
            jobs.store.jobs.crash_point = original
            victim.store.db.close()

    @rule(after=st.booleans())
    def crash_submitter(self, after):
        self.crash_at("submit.after_create" if after else "submit.before_create")

    @rule(
        point=st.sampled_from(["poll.before_get", "poll.after_get", "store.terminal_uncommitted"])
    )
    def crash_poller(self, point):
        self.crash_at(point)

    @rule(job=jobs)
    def crash_canceller(self, job):
        self.crash_at("cancel.after_send", job)

    @rule()
    def restart(self):
        self.service = self.new_service()

    @invariant()
    def consistent(self):
        store = self.service.store
        before = self.snap
        now = check_invariants(
            store, self.server.backend.stats(), accepted=self.accepted, before=before
        )
        for job_id, old in before.items():
            new = now[job_id]
            old_status, new_status = JobStatus(old.status), JobStatus(new.status)
            if job_id in self.resubmitted:
                continue
            assert new_status in ALLOWED.get(old_status, {old_status}), (
                f"{job_id}: {old.status} -> {new.status}"
            )
            if old.interaction_id:
                assert new.interaction_id == old.interaction_id, f"{job_id} changed interaction"
        for job_id, snap in now.items():
            if not JobStatus(snap.status).is_terminal:
                assert store.get_result(job_id) is None, (
                    f"{job_id} has a result but is {snap.status}"
                )
        self.resubmitted.clear()
        self.snap = now


def test_T19_job_state_machine(emulator_server):
    JobsMachine.server = emulator_server
    run_state_machine_as_test(
        JobsMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.parametrize(
    "steps",
    [
        [
            ("crash_submitter", True),
            ("tick", 900),
            ("tick", 900),
            ("resubmit",),
            ("tick", 60),
            ("tick", 900),
        ],
        [("crash_submitter", False), ("tick", 900), ("cancel",), ("tick", 900)],
        [
            ("tick", 0),
            ("tick", 60),
            ("crash_poller", "store.terminal_uncommitted"),
            ("tick", 60),
            ("tick", 900),
        ],
        [("tick", 0), ("tick", 2), ("crash_poller", "poll.after_get"), ("restart",), ("tick", 900)],
        [("tick", 0), ("crash_canceller",), ("tick", 0), ("tick", 900), ("cancel",)],
        [
            ("fault", "create-500-accepted"),
            ("tick", 0),
            ("tick", 900),
            ("resubmit",),
            ("tick", 900),
        ],
    ],
    ids=[
        "lost-create-then-resubmit",
        "crash-before-create-then-cancel",
        "crash-in-terminal-write",
        "crash-after-get-then-restart",
        "crash-after-cancel-sent",
        "unknown-create-then-resubmit",
    ],
)
def test_T19_known_dangerous_sequences(emulator_server, steps):
    """The paths hypothesis must not miss, run every time."""
    JobsMachine.server = emulator_server
    machine = JobsMachine()
    try:
        job = machine.first_job()
        machine.consistent()
        for name, *args in steps:
            if name in ("cancel", "resubmit", "crash_canceller"):
                args = [job]
            getattr(machine, name)(*args)
            machine.consistent()
    finally:
        machine.teardown()
