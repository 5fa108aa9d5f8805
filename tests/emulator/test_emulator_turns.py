"""Turns of a conversation through the real SDK: function calls in several rounds and in parallel,
their continuations checked (400 for a stale, unknown or missing call id, as validation and as a
fault), the counters a runner's tests count creates with; and Deep Research's collaborative
planning (a plan turn, revisions, research on confirmation, a plan that expires)."""

from __future__ import annotations

import httpx2
import pytest
from emulator_checks import (
    assert_known,
    make_client,
    sse_payloads,
    strict_event,
    strict_interaction,
)
from google.genai import _interactions as errors
from google.genai import interactions as gi
from sdk_api import SyncApi

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"
PLAN = {"type": "deep-research", "collaborative_planning": True}


def function(name: str, description: str) -> dict:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },  # fmt: skip
    }


TOOLS = [function("get_weather", "Weather for a city"), function("get_time", "Local time")]


@pytest.fixture
def sync(emulator) -> SyncApi:
    """The sync SDK only: these flows do not differ between sync and async (the first test
    runs both)."""
    return SyncApi(lambda: make_client(emulator.base_url))


def calls_of(interaction) -> list:
    return [s for s in interaction.steps if isinstance(s, gi.FunctionCallStep)]


def answer(api, asked, value, **extra):
    results = [
        {
            "type": "function_result",
            "call_id": c.id,
            "name": c.name,
            "result": {"value": f"{value}-{c.name}"},
        }  # fmt: skip
        for c in calls_of(asked)
    ]
    return api.create(model=MODEL, previous_interaction_id=asked.id, tools=TOOLS, input=results, **extra)  # fmt: skip


def test_parallel_calls_in_three_rounds_then_an_answer_that_uses_them(api, emulator):
    emulator.backend.configure(function_rounds=3)
    turn = api.create(
        model=MODEL, input="What are the weather and the time in Lisbon?", tools=TOOLS
    )
    for round_number in (1, 2, 3):
        assert turn.status == "requires_action"
        assert_known(turn)
        calls = calls_of(turn)
        assert [c.name for c in calls] == ["get_weather", "get_time"]  # both fit: in parallel
        assert len({c.id for c in calls}) == 2 and all(
            c.arguments["city"] == "Lisbon" for c in calls
        )
        turn = answer(api, turn, f"r{round_number}")
    assert turn.status == "completed"
    for round_number in (1, 2, 3):
        for name in ("get_weather", "get_time"):
            assert f'round {round_number}: {name} returned {{"value": "r{round_number}-{name}"}}' in turn.output_text  # fmt: skip
    turns = emulator.backend.stats()["turns"]
    assert emulator.backend.stats()["creates"] == 4  # one create per turn
    assert list(turns["creates_by_previous"].values()) == [1, 1, 1]
    assert turns["function_calls"] == turns["function_results"] == 6
    assert turns["calls_answered_twice"] == 0 and turns["refused"] == 0


def test_a_marker_in_the_prompt_sets_the_rounds_and_one_call_per_round(sync, emulator):
    emulator.backend.configure(parallel_calls=False)
    turn = sync.create(model=MODEL, input="Weather and time in Oslo [rounds=2]", tools=TOOLS)
    names = []
    while turn.status == "requires_action":
        names += [c.name for c in calls_of(turn)]
        turn = answer(sync, turn, "x")
    assert names == ["get_weather", "get_time"]  # one per round, in turn
    assert turn.status == "completed"


def test_the_answer_after_the_rounds_names_what_the_task_came_with(sync):
    document = {"type": "document", "data": "cmVnaW9uLHJldmVudWUK", "mime_type": "text/csv"}
    turn = sync.create(
        model=MODEL, tools=TOOLS, input=[{"type": "text", "text": "Weather in Oslo?"}, document]
    )
    assert turn.status == "requires_action"
    done = answer(sync, turn, "x")
    assert 'I read the attached document 1 (text/csv, 15 B, inline), beginning "region,revenue"' in done.output_text  # fmt: skip


def test_parallel_calls_stream_as_steps_of_their_own(emulator, client):
    created = client.interactions.create(
        model=MODEL, input="Weather and time in Rome", tools=TOOLS, background=True
    )
    emulator.backend.clock.advance(60)
    text = httpx2.get(
        f"{emulator.base_url}/v1/interactions/{created.id}",
        params={"stream": "true"},
        headers={"x-goog-api-key": "k"},
        timeout=10,
    ).text
    events = [strict_event(p) for p in sse_payloads(text)[:-1]]
    starts = [e.step for e in events if isinstance(e, gi.StepStart) and e.step.type == "function_call"]  # fmt: skip
    assert [s.name for s in starts] == ["get_weather", "get_time"]
    raw = client.interactions.with_raw_response.get(created.id).json()
    assert [s["id"] for s in raw["steps"] if s["type"] == "function_call"] == [s.id for s in starts]
    strict_interaction(raw)


@pytest.mark.parametrize("mistake", ["unknown", "missing", "twice", "text", "not_waiting"])
def test_a_continuation_that_does_not_answer_every_call_is_refused(sync, emulator, mistake):
    asked = sync.create(model=MODEL, input="Weather and time in Paris", tools=TOOLS)
    calls = calls_of(asked)
    result = {"type": "function_result", "name": "get_weather", "result": "sunny"}
    previous = asked.id
    if mistake == "unknown":
        given = [{**result, "call_id": c.id} for c in calls] + [{**result, "call_id": "call_stale"}]
    elif mistake == "missing":
        given = [{**result, "call_id": calls[0].id}]
    elif mistake == "twice":
        given = [{**result, "call_id": c.id} for c in (*calls, calls[0])]
    elif mistake == "text":
        given = "Never mind, just tell me a joke"
    else:
        previous = sync.create(model=MODEL, input="Hello there").id
        given = [{**result, "call_id": calls[0].id}]
    with pytest.raises(errors.BadRequestError) as refused:
        sync.create(model=MODEL, previous_interaction_id=previous, tools=TOOLS, input=given)
    assert refused.value.status_code == 400
    stats = emulator.backend.stats()
    assert stats["turns"]["refused"] == 1 and stats["creates"] == 1 + (mistake == "not_waiting")


def test_the_stale_call_fault_refuses_a_correct_answer(sync, emulator):
    asked = sync.create(model=MODEL, input="Weather in Paris", tools=TOOLS)
    emulator.backend.faults.add(kind="stale_call", times=1)
    with pytest.raises(errors.BadRequestError) as refused:
        answer(sync, asked, "ok")
    assert "unknown or stale call id" in refused.value.body["error"]["message"]
    # the same answer again, once the fault is spent
    assert answer(sync, asked, "ok").status == "completed"


def test_answering_the_same_calls_twice_is_a_branch_that_is_counted(sync, emulator):
    asked = sync.create(model=MODEL, input="Weather in Paris", tools=TOOLS)
    answer(sync, asked, "one")
    answer(sync, asked, "two")
    turns = emulator.backend.stats()["turns"]
    assert turns["creates_by_previous"] == {asked.id: 2}
    assert turns["calls_answered_twice"] == 1


# --- collaborative planning -----------------------------------------------------------------------


def research(sync, clock, **kwargs):
    created = sync.create(agent=AGENT, background=True, **kwargs)
    clock.advance(10)  # at speed 600: the longest run is 25 simulated minutes = 2.5 s
    return sync.get(created.id)


def test_a_plan_then_a_revision_then_research_that_follows_it(sync, emulator, clock):
    emulator.backend.configure(speed=600)
    plan = research(sync, clock, input="How did background job queues evolve?", agent_config=PLAN)
    assert plan.status == "completed"
    assert plan.output_text.startswith("# Research plan:")
    assert 'Reply "yes"' in plan.output_text and "## Sources" not in plan.output_text
    assert [type(s).__name__ for s in plan.steps] == ["UserInputStep", "ThoughtStep", "ThoughtStep", "ModelOutputStep"]  # fmt: skip
    revised = research(sync, clock, input="Narrow it to Europe", previous_interaction_id=plan.id, agent_config=PLAN)  # fmt: skip
    assert revised.output_text.startswith("# Revised research plan (revision 2): Europe")
    assert "1. Scope, as you asked: Narrow it to Europe" in revised.output_text
    report = research(sync, clock, input="Yes, go ahead!", previous_interaction_id=revised.id)
    assert report.status == "completed"
    text = report.output_text
    assert text.startswith("# Europe") and "## Research plan followed" in text
    assert "1. Scope, as you asked: Narrow it to Europe" in text and "## Sources" in text
    assert 'This report answers "How did background job queues evolve? Narrow it to Europe"' in text
    plans = emulator.backend.stats()["turns"]["plans"]
    assert plans == {"proposed": 1, "revised": 1, "executed": 1, "expired": 0}


def test_approving_at_once_runs_the_plan_as_proposed(sync, emulator, clock):
    emulator.backend.configure(speed=600)
    plan = research(sync, clock, input="Glass recycling in cities", agent_config=PLAN)
    report = research(sync, clock, input="approve", previous_interaction_id=plan.id)
    assert "## Research plan followed" in report.output_text
    assert "Scope, as you asked" not in report.output_text


def test_an_amendment_with_planning_off_runs_at_once(sync, emulator, clock):
    emulator.backend.configure(speed=600)
    plan = research(sync, clock, input="Glass recycling in cities", agent_config=PLAN)
    report = research(
        sync, clock, input="Only Japan", previous_interaction_id=plan.id,
        agent_config={"type": "deep-research", "collaborative_planning": False},
    )  # fmt: skip
    assert "## Research plan followed\n\n1. Scope, as you asked: Only Japan" in report.output_text


def test_a_knob_ends_the_plan_turn_in_requires_action(sync, emulator, clock):
    emulator.backend.configure(speed=600, plan_status="requires_action")
    plan = research(sync, clock, input="Tidal power", agent_config=PLAN)
    assert plan.status == "requires_action" and plan.output_text.startswith("# Research plan:")
    assert not calls_of(plan)  # waiting for the user's word, not for a function
    report = research(sync, clock, input="looks good", previous_interaction_id=plan.id)
    assert report.status == "completed" and "## Research plan followed" in report.output_text


@pytest.mark.parametrize("status", [400, 404])
def test_a_plan_turn_that_expired_cannot_be_continued(sync, emulator, clock, status):
    emulator.backend.configure(speed=600)
    emulator.backend.faults.add(kind="plan_expiry", seconds=3600, status=status)
    plan = research(sync, clock, input="Tidal power", agent_config=PLAN)  # 6,000 simulated s old
    expected = errors.BadRequestError if status == 400 else errors.NotFoundError
    with pytest.raises(expected):
        sync.create(agent=AGENT, background=True, input="yes", previous_interaction_id=plan.id)
    fresh = sync.create(agent=AGENT, background=True, input="Tidal power again", agent_config=PLAN)
    clock.advance(2)  # 1,200 simulated seconds: the plan is shown, and still good
    assert sync.get(fresh.id).output_text.startswith("# Research plan:")
    young = sync.create(agent=AGENT, background=True, input="yes", previous_interaction_id=fresh.id)
    assert young.id
    stats = emulator.backend.stats()["turns"]
    assert stats["plans"]["expired"] == 1 and stats["refused"] == 1
