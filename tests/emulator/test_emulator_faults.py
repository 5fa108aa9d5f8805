"""The fault plan on its own, and the CLI flags that feed it."""

from __future__ import annotations

import click
import pytest

from jobs.cli.emulator import fault_specs
from jobs.emulator import FaultPlan


def fired(plan: FaultPlan, op: str, calls: int) -> list[int]:
    out = []
    for _ in range(calls):
        error = plan.before(op)
        out.append(error.status_code if error else 0)
    return out


def test_next_n_calls_then_clean():
    plan = FaultPlan()
    plan.fail("create", 503, times=2)
    assert fired(plan, "create", 4) == [503, 503, 0, 0]
    assert fired(plan, "get", 1) == [0]  # other operations are untouched


def test_star_matches_every_operation_and_no_limit_means_always():
    plan = FaultPlan()
    plan.fail("*", 500)
    assert fired(plan, "get", 3) == [500, 500, 500]
    assert fired(plan, "delete", 1) == [500]
    assert plan.rules()[0]["hits"] == 4


def test_a_rate_fires_on_about_that_fraction_reproducibly():
    runs = []
    for _ in range(2):
        plan = FaultPlan(seed=7)
        plan.fail("get", 500, rate=0.3)
        runs.append(fired(plan, "get", 1000))
    assert runs[0] == runs[1]  # same seed, same sequence
    assert 250 <= runs[0].count(500) <= 350
    other = FaultPlan(seed=8)
    other.fail("get", 500, rate=0.3)
    assert fired(other, "get", 1000) != runs[0]


def test_rate_and_times_together_cap_the_hits():
    plan = FaultPlan()
    plan.fail("get", 503, rate=0.5, times=3)
    assert fired(plan, "get", 200).count(503) == 3


def test_rules_compose_and_the_first_that_fires_answers():
    plan = FaultPlan()
    plan.fail("create", 429, times=1, retry_after=0.5)
    plan.fail("create", 503, times=1)
    first, second, third = (plan.before("create") for _ in range(3))
    assert first.status_code == 429 and first.headers() == {"Retry-After": "0.5"}
    assert first.details[-1] == {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "0.500s",
    }
    assert second.status_code == 503 and third is None


def test_429_always_carries_a_retry_delay():
    plan = FaultPlan()
    plan.fail("create", 429)
    error = plan.before("create")
    assert error.headers() == {"Retry-After": "1"}
    assert error.body()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_after_effects_add_delays_and_pick_one_error():
    plan = FaultPlan()
    plan.accept_then_delay("create", 1.5)
    plan.accept_then_delay("create", 0.5)
    plan.accept_then_fail("create", 504)
    effects = plan.after("create")
    assert effects.delay == 2.0
    assert effects.error.status_code == 504 and effects.error.accepted
    again = plan.after("create")
    assert again.delay == 0 and again.error is None


def test_malformed_and_cut_stream_decisions():
    plan = FaultPlan()
    plan.malformed("get", "invalid_json", times=1)
    plan.cut_stream(3, op="stream", mode="eof")
    assert plan.after("get").malformed == "invalid_json"
    assert plan.after("get").malformed is None
    assert plan.stream_cut("create") is None
    assert plan.stream_cut("stream") == (3, "eof")
    assert plan.stream_cut("stream") is None


def test_outcomes_by_count_and_by_label():
    plan = FaultPlan()
    plan.force_outcome("budget_exceeded", label="job=x", times=None)
    plan.force_outcome("failed", times=1)
    assert plan.outcome_for({"job": "x"}) == "budget_exceeded"
    assert plan.outcome_for({"job": "y"}) == "failed"
    assert plan.outcome_for({"job": "y"}) is None
    assert plan.outcome_for({"job": "x"}) == "budget_exceeded"


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "explode"},
        {"kind": "fail", "op": "list", "status": 500},
        {"kind": "fail", "status": 200},
        {"kind": "fail", "status": 500, "rate": 2},
        {"kind": "fail", "status": 500, "times": -1},
        {"kind": "fail", "status": 500, "times": 1.5},
        {"kind": "fail", "status": "500"},
        {"kind": "accept_then_delay"},
        {"kind": "malformed", "malformed": "xml"},
        {"kind": "cut_stream"},
        {"kind": "cut_stream", "after_events": 2, "mode": "explode"},
        {"kind": "outcome"},
        {"kind": "outcome", "status": "failed", "label": "no-equals"},
        {"kind": "fail", "status": 500, "colour": "red"},
        {"kind": "upload_refused", "status": 200},
        {"kind": "upload_refused", "after_events": 0},
        {"kind": "schema_violation", "mode": "explode"},
        {"kind": "schema_violation", "label": "no-equals"},
        {"kind": "plan_expiry"},
        {"kind": "plan_expiry", "seconds": 10, "status": 500},
    ],
)
def test_invalid_rules_are_refused(spec):
    plan = FaultPlan()
    with pytest.raises(ValueError):
        plan.add(spec)
    assert plan.rules() == []


def test_take_fires_the_newer_kinds_by_label_and_match():
    plan = FaultPlan()
    assert plan.add(kind="upload_refused").op == "upload"
    assert plan.add(kind="stale_call", times=1).op == "create"
    plan.add(kind="schema_violation", label="row=2", times=None)
    plan.add(kind="plan_expiry", seconds=60)
    assert plan.take("schema_violation", "create", labels={"row": "1"}) is None
    assert plan.take("schema_violation", "create", labels={"row": "2"}).mode == "missing_required"
    assert plan.take("stale_call", "create") is not None
    assert plan.take("stale_call", "create") is None  # times=1
    assert plan.take("plan_expiry", "create", match=lambda r: r.seconds <= 30) is None
    assert plan.take("plan_expiry", "create", match=lambda r: r.seconds <= 90).status is None


def test_reset_and_remove():
    plan = FaultPlan()
    rule = plan.fail("get", 500)
    plan.latency = 0.2
    assert plan.remove(rule.id) and not plan.remove(rule.id)
    plan.fail("get", 500)
    plan.reset()
    assert plan.rules() == [] and plan.latency == 0 and plan.before("get") is None


def test_cli_flags_become_fault_specs():
    specs = fault_specs(
        {
            "fail_next": ("create:503:2",),
            "fail_rate": ("get:500:0.25",),
            "retry_after": 3.0,
            "accept_then_delay": ("create:5",),
            "accept_then_fail": ("create:504:1",),
            "malformed": ("get:html_502:2",),
            "cut_stream": ("4:eof",),
            "outcome": ("failed:3", "incomplete"),
            "outcome_label": ("job=x:requires_action",),
        }
    )
    assert specs == [
        {"kind": "fail", "op": "create", "status": 503, "times": 2, "retry_after": 3.0},
        {"kind": "fail", "op": "get", "status": 500, "rate": 0.25, "retry_after": 3.0},
        {"kind": "accept_then_delay", "op": "create", "seconds": 5.0},
        {"kind": "accept_then_fail", "op": "create", "status": 504, "times": 1},
        {"kind": "malformed", "op": "get", "malformed": "html_502", "times": 2},
        {"kind": "cut_stream", "after_events": 4, "mode": "eof"},
        {"kind": "outcome", "status": "failed", "times": 3},
        {"kind": "outcome", "status": "incomplete"},
        {"kind": "outcome", "status": "requires_action", "label": "job=x"},
    ]
    plan = FaultPlan()
    for spec in specs:
        plan.add(spec)  # every spec the CLI makes is one the plan accepts
    assert len(plan.rules()) == len(specs)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("fail_next", "create:503"),
        ("fail_next", "list:503:1"),
        ("fail_next", "create:abc:1"),
        ("fail_next", "create:302:1"),
        ("fail_rate", "get:500:1.5"),
        ("fail_rate", "get:500:-0.1"),
        ("malformed", "get:xml"),
        ("cut_stream", "3:sideways"),
        ("outcome_label", "nolabel:failed"),
        ("accept_then_delay", "create:soon"),
    ],
)
def test_bad_cli_flags_are_named_in_the_error(option, value):
    with pytest.raises(click.BadParameter) as err:
        fault_specs({option: (value,)})
    assert err.value.param_hint == "--" + option.replace("_", "-")
