"""A worker stopped during a pass returns only after that pass and its report."""

from __future__ import annotations

import threading

import pytest

from jobs.clock import SystemClock
from jobs.service.core import PassReport
from jobs.worker import Worker


@pytest.fixture
def clock():
    """The scheduler that ticks the worker runs on real time."""
    return SystemClock()


def test_run_returns_after_the_pass_in_progress_and_its_report(service):
    worker = Worker(service)
    in_pass, release = threading.Event(), threading.Event()

    def slow_pass(*, background: bool = False) -> PassReport:
        in_pass.set()
        release.wait(10)
        return PassReport(finished=2)

    worker.poll_once = slow_pass  # type: ignore[method-assign]
    order: list[str] = []
    runner = threading.Thread(
        target=lambda: (
            worker.run(tick=0.05, on_pass=lambda r: order.append(f"pass {r.finished}")),
            order.append("run returned"),
        ),
    )
    runner.start()
    assert in_pass.wait(10)
    worker.stop()  # as the SIGTERM handler does, while the pass runs
    runner.join(0.3)
    assert runner.is_alive(), "run() returned while its pass was still running"
    release.set()
    runner.join(10)
    assert order == ["pass 2", "run returned"]
