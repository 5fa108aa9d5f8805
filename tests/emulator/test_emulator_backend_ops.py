"""The backend in plain Python, on a fake clock: cancel, delete, retention, events, faults, counters."""

from __future__ import annotations

import threading

import pytest
from emulator_checks import output_text, run_to_end

from jobs.emulator import EmulatorBackend, EmulatorError
from jobs.emulator.content import tokens
from jobs.emulator.fold import fold
from jobs.emulator.plan import build_script
from jobs.emulator.script import Spec, usage_for

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"


def test_cancel_freezes_a_running_interaction(backend, clock):
    created = backend.create({"agent": AGENT, "input": "Deep sea vents", "background": True})
    clock.advance(120)
    before = backend.get(created["id"])
    cancelled = backend.cancel(created["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["updated"] == "2026-06-01T12:02:00Z"
    assert cancelled["usage"]["total_thought_tokens"] > 0  # the work done so far is billed
    assert cancelled["usage"]["total_output_tokens"] == 0
    clock.advance(5000)
    after = backend.get(created["id"])
    assert after["status"] == "cancelled" and after["updated"] == cancelled["updated"]
    assert len(after["steps"]) >= len(before["steps"])
    batch = backend.events(created["id"])
    assert batch.done and batch.next_at is None
    assert batch.events[-1]["event_type"] == "interaction.completed"
    assert batch.events[-1]["interaction"]["status"] == "cancelled"
    with pytest.raises(EmulatorError) as err:
        backend.cancel(created["id"])
    assert (err.value.status_code, err.value.status) == (400, "FAILED_PRECONDITION")


def test_cancel_mid_output_keeps_the_partial_text_and_bills_it(backend, clock):
    created = backend.create({"model": MODEL, "input": "Write about kites", "background": True})
    complete = build_script(backend._records[created["id"]].spec)
    start = next(
        at
        for at, p in complete.events
        if p["event_type"] == "step.start" and p["step"]["type"] == "model_output"
    )
    clock.advance(start + 0.3)
    cancelled = backend.cancel(created["id"])
    text = output_text(cancelled)
    assert len(text) > 0
    assert cancelled["usage"]["total_output_tokens"] == tokens(text)


def test_cancelling_a_finished_interaction_is_an_error(backend):
    done = backend.create({"model": MODEL, "input": "hi"})
    with pytest.raises(EmulatorError) as err:
        backend.cancel(done["id"])
    assert err.value.status_code == 400
    assert "completed" in err.value.message


def test_delete_then_everything_is_not_found(backend):
    created = backend.create({"model": MODEL, "input": "hi", "background": True})
    assert backend.delete(created["id"]) is None
    for call in (backend.get, backend.cancel, backend.delete, backend.open_stream, backend.events):
        with pytest.raises(EmulatorError) as err:
            call(created["id"])
        assert err.value.status_code == 404
    assert backend.stats()["interactions"]["deleted"] == 1


def test_retention_ttl_expires_interactions(backend, clock):
    backend.configure(retention=3600)
    created = backend.create({"model": MODEL, "input": "hi", "background": True})
    clock.advance(3599)
    assert backend.get(created["id"])["status"] == "completed"
    clock.advance(2)
    for call in (backend.get, backend.cancel, backend.delete, backend.open_stream):
        with pytest.raises(EmulatorError) as err:
            call(created["id"])
        assert err.value.status_code == 404
    stats = backend.stats()
    assert stats["interactions"]["expired"] == 1 and stats["interactions"]["live"] == 0


def test_store_false_is_answered_but_not_kept(backend):
    created = backend.create(
        {"model": MODEL, "input": "ephemeral", "store": False, "labels": {"job": "e"}}
    )
    assert created["status"] == "completed"
    with pytest.raises(EmulatorError):
        backend.get(created["id"])
    assert backend.stats()["creates_by_label"] == {"job=e": 1}


def test_events_have_stable_ids_and_resume_after_a_given_one(backend, clock):
    created = backend.create({"model": MODEL, "input": "hi", "background": True})
    clock.advance(0.1)
    early = backend.events(created["id"])
    assert not early.done and early.next_at is not None and early.next_at > clock.now()
    assert [e["event_id"] for e in early.events] == ["evt_0001"]
    clock.advance(30)
    everything = backend.events(created["id"])
    ids = [e["event_id"] for e in everything.events]
    assert ids == [f"evt_{i:04d}" for i in range(1, len(ids) + 1)]
    assert everything.done and everything.next_at is None
    rest = backend.events(created["id"], after_event_id="evt_0004")
    assert rest.events == everything.events[4:]
    assert everything.events[0]["interaction"]["status"] == "queued"
    assert everything.events[-1]["interaction"]["usage"]["total_tokens"] > 0
    with pytest.raises(EmulatorError) as err:
        backend.events(created["id"], after_event_id="sse-7")
    assert err.value.status_code == 400


def test_get_and_stream_always_agree(backend, clock):
    created = backend.create({"agent": AGENT, "input": "Coral bleaching", "background": True})
    for _ in range(30):
        clock.advance(37)
        resource = backend.get(created["id"], include_input=False)
        state = fold(backend.events(created["id"]).events)
        assert state.status == resource["status"]
        expected = state.steps if resource["status"] == "completed" else state.closed_steps()
        assert expected == resource["steps"]


def test_incremental_views_equal_views_folded_from_scratch(backend, clock):
    created = backend.create({"agent": AGENT, "input": "Wind farms at sea", "background": True})
    record = backend._records[created["id"]]
    for _ in range(60):
        clock.advance(23)
        seen = backend.get(created["id"], include_input=False)
        record.view = record.state = None
        backend._scripts.drop(created["id"])
        assert backend.get(created["id"], include_input=False) == seen


@pytest.mark.parametrize("agent", [False, True])
def test_final_usage_equals_the_sum_of_step_usage(agent):
    spec = Spec(
        id="int_x",
        kind="agent" if agent else "model",
        name=AGENT if agent else MODEL,
        input="Bridges of Paris",
        system_instruction="Be thorough",
        history=("What is a bridge?",),
        history_tokens=123,
        background=True,
    )
    script = build_script(spec)
    state = fold([p for _, p in script.events])
    assert state.usage == script.usage
    assert script.usage == usage_for(
        spec, state.output, state.thought, state.tool_use, state.searches
    )
    assert script.usage["total_cached_tokens"] == 123


@pytest.mark.parametrize(
    ("outcome", "step_type"),
    [
        ("failed", "model_output"),
        ("incomplete", "model_output"),
        ("budget_exceeded", "model_output"),
        ("requires_action", "function_call"),
        ("cancelled", "model_output"),
        ("requires_continuation", "model_output"),
        ("paused_for_lunch", "model_output"),
    ],
)
def test_forced_outcomes(backend, clock, outcome, step_type):
    normal = backend.create({"model": MODEL, "input": "Tell me about moths"})
    backend.faults.force_outcome(outcome)
    created = backend.create({"model": MODEL, "input": "Tell me about moths", "background": True})
    final = run_to_end(backend, clock, created["id"])
    assert final["status"] == outcome
    assert final["steps"][-1]["type"] == step_type
    assert "usage" in final
    if outcome == "failed":
        assert final["errors"][0]["message"]
        assert final["steps"][-1]["error"]["code"] == 13
        kinds = [e["event_type"] for e in backend.events(created["id"]).events]
        assert kinds[-3:] == ["error", "interaction.status_update", "interaction.completed"]
    elif outcome == "requires_action":
        assert final["steps"][-1]["name"] and final["steps"][-1]["id"].startswith("call_")
    else:
        assert 0 < len(output_text(final)) < len(output_text(normal))
    if outcome == "requires_continuation":
        assert final["continuation_token"]
    again = backend.create({"model": MODEL, "input": "Tell me about moths"})
    assert again["status"] == "completed"  # the rule was for one interaction only


def test_forced_outcome_by_label_only_hits_matching_creates(backend):
    backend.faults.force_outcome("failed", label="job=bad", times=None)
    good = backend.create({"model": MODEL, "input": "x", "labels": {"job": "good"}})
    bad = backend.create({"model": MODEL, "input": "x", "labels": {"job": "bad"}})
    bad2 = backend.create({"model": MODEL, "input": "y", "labels": {"job": "bad"}})
    assert (good["status"], bad["status"], bad2["status"]) == ("completed", "failed", "failed")


def test_a_stalled_interaction_never_ends(backend, clock):
    backend.faults.force_outcome("in_progress")
    created = backend.create({"model": MODEL, "input": "x", "background": True})
    clock.advance(100_000)
    resource = backend.get(created["id"])
    assert resource["status"] == "in_progress"
    stalled_at = resource["updated"]
    clock.advance(100_000)
    assert backend.get(created["id"])["updated"] == stalled_at  # `updated` stops moving
    assert backend.cancel(created["id"])["status"] == "cancelled"


def test_output_of_a_chosen_size(backend):
    backend.configure(output_bytes=2_000_000)
    created = backend.create({"model": MODEL, "input": "big"})
    text = output_text(created)
    assert len(text.encode()) == 2_000_000
    assert created["usage"]["total_output_tokens"] == 500_000


def test_fail_next_counts_attempts_but_not_creates(backend):
    backend.faults.fail("create", 503, times=2)
    for _ in range(2):
        with pytest.raises(EmulatorError) as err:
            backend.create({"model": MODEL, "input": "x", "labels": {"job": "j1"}})
        assert err.value.status_code == 503
    backend.create({"model": MODEL, "input": "x", "labels": {"job": "j1"}})
    stats = backend.stats()
    assert stats["requests"]["create"] == 3
    assert stats["creates"] == 1
    assert stats["creates_by_label"] == {"job=j1": 1}
    assert stats["faults"][0]["hits"] == 2 and stats["faults"][0]["remaining"] == 0


def test_accept_then_fail_creates_anyway(backend):
    backend.faults.accept_then_fail("create", 500)
    with pytest.raises(EmulatorError) as err:
        backend.create({"model": MODEL, "input": "x", "labels": {"job": "dup"}})
    assert err.value.status_code == 500 and err.value.accepted
    assert backend.stats()["creates_by_label"] == {"job=dup": 1}
    assert backend.stats()["interactions"]["live"] == 1


def test_faults_on_other_operations(backend):
    created = backend.create({"model": MODEL, "input": "x"})
    backend.faults.fail("get", 429, times=1, retry_after=2)
    with pytest.raises(EmulatorError) as err:
        backend.get(created["id"])
    assert err.value.headers() == {"Retry-After": "2"}
    assert {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "2s",
    } in err.value.details
    assert backend.get(created["id"])["status"] == "completed"
    backend.faults.fail("*", 504, times=1)
    with pytest.raises(EmulatorError) as err:
        backend.delete(created["id"])
    assert err.value.status_code == 504
    assert backend.get(created["id"])  # the delete did not happen


def test_authentication(clock):
    open_backend = EmulatorBackend(clock=clock)
    open_backend.authenticate("anything")
    with pytest.raises(EmulatorError) as err:
        open_backend.authenticate(None)
    assert err.value.status_code == 401 and err.value.status == "UNAUTHENTICATED"
    locked = EmulatorBackend(clock=clock, api_key="right")
    locked.authenticate("right")
    with pytest.raises(EmulatorError) as err:
        locked.authenticate("wrong")
    assert err.value.status_code == 400
    assert err.value.message == "API key not valid. Please pass a valid API key."
    assert err.value.details[0]["reason"] == "API_KEY_INVALID"


def test_stats_shape_and_reset(backend, clock):
    a = backend.create(
        {"model": MODEL, "input": "a", "background": True, "labels": {"job": "a", "team": "x"}}
    )
    backend.create({"model": MODEL, "input": "b", "labels": {"job": "b"}})
    backend.get(a["id"])
    stats = backend.stats()
    assert stats["requests"] == {"create": 2, "get": 1, "stream": 0, "cancel": 0, "delete": 0}
    assert stats["creates_by_label"] == {"job=a": 1, "team=x": 1, "job=b": 1}
    assert stats["interactions"] == {
        "live": 2,
        "running": 1,
        "total": 2,
        "expired": 0,
        "deleted": 0,
    }
    backend.speed = 50
    backend.faults.fail("get", 500)
    backend.reset()
    stats = backend.stats()
    assert stats["requests"]["create"] == 0 and stats["interactions"]["live"] == 0
    assert stats["faults"] == [] and stats["speed"] == 1.0
    backend.create({"model": MODEL, "input": "after reset"})  # no leftover fault


def test_configure_rejects_bad_values(backend):
    bad_ones = (
        {"speed": 0}, {"speed": -1}, {"latency": -1}, {"retention": "soon"}, {"nope": 1},
        {"function_rounds": 0}, {"function_rounds": 2.5}, {"parallel_calls": "yes"},
        {"plan_status": "failed"}, {"file_ttl": 0}, {"missing_file_status": 500},
        {"inline_limit_bytes": "big"}, {"function_rounds": 3, "file_ttl": -5},
    )  # fmt: skip
    for bad in bad_ones:
        with pytest.raises(ValueError):
            backend.configure(**bad)
    assert backend.configure()["function_rounds"] == 1  # nothing of a refused call was applied
    assert backend.configure(retention=10)["retention"] == 10
    assert backend.configure(retention=-1)["retention"] is None


def test_concurrent_creates_are_all_counted(backend):
    def work() -> None:
        for _ in range(50):
            backend.create(
                {"model": MODEL, "input": "x", "background": True, "labels": {"job": "c"}}
            )

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.stats()["creates_by_label"] == {"job=c": 200}
    assert backend.stats()["interactions"]["live"] == 200


def test_scripts_evicted_from_the_cache_are_rebuilt_identically(backend, clock):
    created = backend.create({"model": MODEL, "input": "cache me", "background": True})
    clock.advance(30)
    before = backend.events(created["id"]).events
    resource = backend.get(created["id"])
    backend._scripts.drop(created["id"])
    backend._records[created["id"]].view = None
    assert len(backend._scripts) == 0
    assert backend.events(created["id"]).events == before
    assert backend.get(created["id"]) == resource
