"""The stream faults of the real service, as fault rules: validation, matching, the CLI flags."""

from __future__ import annotations

import pytest

from jobs.cli.emulator import fault_specs
from jobs.emulator.faults import FaultPlan


def test_stream_faults_fire_as_ruled():
    plan = FaultPlan()
    plan.cut_stream_after(600, times=1)
    plan.stall_resume(2, times=1)
    plan.duplicate_event(3, times=None)
    fresh = plan.stream_faults("stream", resumed=False)
    assert (fresh.cut_after_seconds, fresh.cut_mode, fresh.stall_replay) == (600, "text_503", None)
    assert fresh.duplicate_at == 3
    resumed = plan.stream_faults("stream", resumed=True)
    assert resumed.cut_after_seconds is None and resumed.stall_replay == 2
    later = plan.stream_faults("stream", resumed=True)
    assert later.stall_replay is None and later.duplicate_at == 3
    assert not plan.stream_faults("get", resumed=False).any


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "cut_stream"},
        {"kind": "cut_stream", "seconds": -1},
        {"kind": "cut_stream", "seconds": 5, "mode": "teapot"},
        {"kind": "stall_resume", "after_events": 1.5},
    ],
)
def test_bad_stream_fault_rules_are_refused(spec):
    with pytest.raises(ValueError):
        FaultPlan().add(spec)


def test_cli_flags_make_the_rules():
    specs = fault_specs(
        {"cut_stream_after": ("600",), "stall_resume": ("2:1",), "duplicate_event": ("4",)}
    )
    assert specs == [
        {"kind": "cut_stream", "op": "stream", "seconds": 600.0, "mode": "text_503"},
        {"kind": "stall_resume", "op": "stream", "after_events": 2, "times": 1},
        {"kind": "duplicate_event", "op": "stream", "after_events": 4},
    ]
