"""Conformance: the real google-genai SDK, sync and async, against the emulator over HTTP.

Every object the SDK hands back must be a known class (no Unknown* fallbacks), and the raw JSON must
pass the SDK's models without their lenient fallbacks.
"""

from __future__ import annotations

import json
import threading

import httpx2
import pytest
from emulator_checks import (
    assert_known,
    make_client,
    sse_payloads,
    strict_event,
    strict_interaction,
    wait_for,
)
from google import genai
from google.genai import _interactions as errors
from google.genai import interactions as gi
from google.genai import types

from jobs.emulator import EmulatorServer

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"


def event_classes(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def test_background_lifecycle(api, emulator, clock):
    created = api.create(
        model=MODEL, input="Why do cats purr?", background=True, labels={"job": "j1"}
    )
    assert isinstance(created, gi.Interaction)
    assert created.status == "queued" and created.id.startswith("int_")
    assert created.usage is None and created.labels == {"job": "j1"}
    assert_known(created)

    clock.advance(2.5)
    running = api.get(created.id)
    assert running.status == "in_progress"
    assert running.updated > created.updated

    clock.advance(20)
    done = api.get(created.id)
    assert done.status == "completed"
    assert event_classes(done.steps) == ["UserInputStep", "ThoughtStep", "ModelOutputStep"]
    assert 'Here is my answer to "Why do cats purr?"' in done.output_text
    usage = done.usage
    assert usage.total_tokens == (
        usage.total_input_tokens
        + usage.total_output_tokens
        + usage.total_thought_tokens
        + usage.total_tool_use_tokens
    )
    assert done.updated > running.updated
    assert_known(done)
    assert emulator.backend.stats()["creates_by_label"] == {"job=j1": 1}


def test_inline_create_answers_the_finished_interaction(api):
    done = api.create(model=MODEL, input="Name three rivers", system_instruction="Be brief")
    assert done.status == "completed"
    assert event_classes(done.steps) == ["ThoughtStep", "ModelOutputStep"]
    assert done.output_text.startswith('Following your instruction ("Be brief")')
    assert done.usage.total_output_tokens > 0 and done.usage.total_tokens > 0
    assert isinstance(done.steps[0].summary[0], gi.TextContent)
    assert_known(done)


@pytest.mark.parametrize(
    "value",
    [
        "plain text",
        {"type": "text", "text": "one content object"},
        [
            {"text": "a content list"},
            {"type": "image", "uri": "gs://b/x.png", "mime_type": "image/png"},
        ],
        [{"type": "user_input", "content": [{"type": "text", "text": "a list of steps"}]}],
    ],
)
def test_every_input_form_is_accepted(api, value):
    done = api.create(model=MODEL, input=value)
    got = api.get(done.id)
    assert got.status == "completed"
    assert isinstance(got.steps[0], gi.UserInputStep)
    first = got.steps[0].content[0]
    assert isinstance(first, gi.TextContent) and first.text in json.dumps(value)
    assert first.text in got.output_text
    assert_known(got)


def test_include_input(api):
    done = api.create(model=MODEL, input="hello")
    assert isinstance(api.get(done.id).steps[0], gi.UserInputStep)
    without = api.get(done.id, include_input=False)
    assert event_classes(without.steps) == ["ThoughtStep", "ModelOutputStep"]
    assert api.get(done.id, include_input=True).input == "hello"


def test_stream_replays_a_finished_interaction(api, clock):
    created = api.create(model=MODEL, input="Explain tides", background=True)
    clock.advance(30)
    events = api.stream(created.id)
    kinds = event_classes(events)
    assert kinds[:3] == ["InteractionCreatedEvent", "InteractionStatusUpdate", "StepStart"]
    assert kinds[-1] == "InteractionCompletedEvent"
    assert set(kinds) <= {
        "InteractionCreatedEvent",
        "InteractionStatusUpdate",
        "StepStart",
        "StepDelta",
        "StepStop",
        "InteractionCompletedEvent",
    }
    for event in events:
        assert_known(event)
    deltas = {type(e.delta).__name__ for e in events if isinstance(e, gi.StepDelta)}
    assert deltas == {"TextDelta", "ThoughtSummaryDelta", "ThoughtSignatureDelta"}
    text = "".join(
        e.delta.text for e in events if isinstance(e, gi.StepDelta) and e.delta.type == "text"
    )
    final = api.get(created.id)
    assert text == final.output_text
    assert events[-1].interaction.status == "completed"
    assert events[-1].interaction.usage.total_tokens == final.usage.total_tokens
    assert [e.event_id for e in events] == [f"evt_{i:04d}" for i in range(1, len(events) + 1)]


def test_resume_with_last_event_id_yields_exactly_the_rest(api, clock):
    created = api.create(model=MODEL, input="Describe a comet", background=True)
    clock.advance(30)
    everything = api.stream(created.id)
    rest = api.stream(created.id, last_event_id="evt_0005")
    assert [e.event_id for e in rest] == [e.event_id for e in everything[5:]]
    assert event_classes(rest) == event_classes(everything[5:])
    assert api.stream(created.id, last_event_id=everything[-1].event_id) == []


def test_a_live_stream_follows_the_clock(api, clock):
    created = api.create(model=MODEL, input="Count to three", background=True)
    seen: list = []
    reader = threading.Thread(target=api.stream_into, args=(seen, created.id))
    reader.start()
    try:
        wait_for(lambda: len(seen) == 1)  # the created event, then nothing until time moves
        assert isinstance(seen[0], gi.InteractionCreatedEvent)
        assert seen[0].interaction.status == "queued"
        clock.advance(2.5)
        wait_for(lambda: any(isinstance(e, gi.InteractionStatusUpdate) for e in seen))
        assert not any(isinstance(e, gi.InteractionCompletedEvent) for e in seen)
        clock.advance(20)
        reader.join(timeout=5)
        assert not reader.is_alive()
    finally:
        clock.advance(1000)
        reader.join(timeout=5)
    assert isinstance(seen[-1], gi.InteractionCompletedEvent)
    assert seen[-1].interaction.status == "completed"


def test_streamed_background_create_is_live(emulator, clock):
    client = make_client(emulator.base_url)
    seen: list = []

    def read() -> None:
        with client.interactions.create(
            model=MODEL, input="stream me", background=True, stream=True
        ) as events:
            seen.extend(events)

    reader = threading.Thread(target=read)
    reader.start()
    wait_for(lambda: emulator.backend.stats()["creates"] == 1)
    clock.advance(30)
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert (
        isinstance(seen[0], gi.InteractionCreatedEvent) and seen[0].interaction.status == "queued"
    )
    assert isinstance(seen[-1], gi.InteractionCompletedEvent)


def test_streamed_inline_create_answers_the_whole_run(api):
    events = api.create_stream(model=MODEL, input="stream everything")
    assert isinstance(events[0], gi.InteractionCreatedEvent)
    assert events[0].interaction.status == "in_progress"
    assert isinstance(events[-1], gi.InteractionCompletedEvent)
    assert events[-1].interaction.usage.total_output_tokens > 0
    for event in events:
        assert_known(event)
    text = "".join(
        e.delta.text for e in events if isinstance(e, gi.StepDelta) and e.delta.type == "text"
    )
    assert api.get(events[0].interaction.id).output_text == text


def test_cancel(api, clock):
    created = api.create(agent=AGENT, input="Ancient roads", background=True)
    clock.advance(90)
    cancelled = api.cancel(created.id)
    assert isinstance(cancelled, gi.Interaction)
    assert cancelled.status == "cancelled"
    assert cancelled.usage.total_thought_tokens > 0
    assert_known(cancelled)
    with pytest.raises(errors.BadRequestError) as err:
        api.cancel(created.id)
    assert err.value.status_code == 400
    assert err.value.body["error"]["status"] == "FAILED_PRECONDITION"
    finished = api.create(model=MODEL, input="done already")
    with pytest.raises(errors.BadRequestError):
        api.cancel(finished.id)


def test_delete(api, emulator):
    created = api.create(model=MODEL, input="to be deleted", background=True)
    assert api.delete(created.id) is None
    for call in (api.get, api.cancel, api.delete, api.stream):
        with pytest.raises(errors.NotFoundError) as err:
            call(created.id)
        assert err.value.body["error"] == {
            "code": 404,
            "message": f"Interaction '{created.id}' was not found.",
            "status": "NOT_FOUND",
        }
    assert emulator.backend.stats()["requests"]["delete"] == 2


def test_deep_research_at_speed(api, emulator, clock):
    emulator.backend.speed = 600
    created = api.create(
        agent=AGENT,
        input="History of the bicycle",
        background=True,
        agent_config={"type": "deep-research", "thinking_summaries": "auto"},
    )
    assert isinstance(created.agent_config, gi.DeepResearchAgentConfig)
    clock.advance(3)  # 30 simulated minutes
    done = api.get(created.id)
    assert done.status == "completed" and done.agent == AGENT
    kinds = set(event_classes(done.steps))
    assert {
        "ThoughtStep",
        "GoogleSearchCallStep",
        "GoogleSearchResultStep",
        "ModelOutputStep",
    } <= kinds
    assert done.output_text.startswith("# ") and "## Sources" in done.output_text
    assert done.usage.grounding_tool_count[0].type == "google_search"
    assert done.usage.total_tool_use_tokens > 0
    assert_known(done)
    summaries = [
        e
        for e in api.stream(created.id)
        if isinstance(e, gi.StepDelta) and e.delta.type == "thought_summary"
    ]
    assert len(summaries) >= 5
    assert all(s.delta.content.text.startswith("**") for s in summaries)


def test_chaining(api):
    first = api.create(model=MODEL, input="What is entropy?")
    second = api.create(
        model=MODEL, input="Give an everyday example", previous_interaction_id=first.id
    )
    assert (
        'turn 2 of our conversation; you first asked about "What is entropy?"' in second.output_text
    )
    assert second.previous_interaction_id == first.id
    assert second.usage.total_cached_tokens == (
        first.usage.total_input_tokens + first.usage.total_output_tokens
    )
    assert second.usage.cached_tokens_by_modality[0].tokens == second.usage.total_cached_tokens
    with pytest.raises(errors.NotFoundError):
        api.create(model=MODEL, input="orphan", previous_interaction_id="int_missing")


@pytest.mark.parametrize(
    ("outcome", "last_step"),
    [
        ("failed", "ModelOutputStep"),
        ("incomplete", "ModelOutputStep"),
        ("budget_exceeded", "ModelOutputStep"),
        ("requires_action", "FunctionCallStep"),
        ("cancelled", "ModelOutputStep"),
        ("requires_continuation", "ModelOutputStep"),
        ("paused_for_lunch", "ModelOutputStep"),
    ],
)
def test_every_final_status(api, emulator, clock, outcome, last_step):
    emulator.backend.faults.force_outcome(outcome)
    created = api.create(model=MODEL, input="What do owls eat?", background=True)
    clock.advance(30)
    done = api.get(created.id)
    assert done.status == outcome
    assert type(done.steps[-1]).__name__ == last_step
    assert done.usage is not None
    assert_known(done)
    events = api.stream(created.id)
    assert events[-1].interaction.status == outcome
    if outcome == "failed":
        assert isinstance(done.errors[0], gi.Error) and done.errors[0].message
        assert done.steps[-1].error.code == 13
        assert any(isinstance(e, gi.ErrorEvent) and e.error.message for e in events)
    else:
        assert not any(isinstance(e, gi.ErrorEvent) for e in events)
    if outcome == "requires_continuation":
        assert done.continuation_token


def test_sdk_automatic_continuation_gets_the_whole_answer(api, emulator):
    whole = api.create(model=MODEL, input="Tell me a story about lighthouses")
    emulator.backend.faults.force_outcome("requires_continuation")
    merged = api.create(model=MODEL, input="Tell me a story about lighthouses")
    assert merged.status == "completed"
    assert len(merged.continuation_ids) == 2  # the SDK posted the token back once
    assert merged.output_text == whole.output_text
    assert emulator.backend.stats()["requests"]["create"] == 3
    with pytest.raises(errors.BadRequestError):
        api.create(model=MODEL, continuation_token="ct_bogus", previous_interaction_id=whole.id)


def test_function_calling_round_trip(api):
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    asked = api.create(model=MODEL, input="Use get_weather for Paris", tools=tools)
    assert asked.status == "requires_action"
    call = asked.steps[-1]
    assert isinstance(call, gi.FunctionCallStep) and call.name == "get_weather"
    answered = api.create(
        model=MODEL,
        previous_interaction_id=asked.id,
        tools=tools,
        input=[
            {
                "type": "function_result",
                "call_id": call.id,
                "name": "get_weather",
                "result": {"temp_c": 21},
            }
        ],
    )
    assert answered.status == "completed"
    assert 'get_weather returned {"temp_c": 21}' in answered.output_text


def test_json_response_format(api):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
    }
    done = api.create(
        model=MODEL,
        input="A famous bridge",
        response_format={"type": "text", "mime_type": "application/json", "schema": schema},
    )
    parsed = json.loads(done.output_text)
    assert set(parsed) == {"name", "year"} and isinstance(parsed["year"], int)


def test_every_usage_field_is_filled(api, clock):
    created = api.create(agent=AGENT, input="Glass recycling", background=True)
    clock.advance(2000)
    first = api.get(created.id)
    chained = api.create(
        agent=AGENT, input="Now focus on Japan", background=True, previous_interaction_id=created.id
    )
    clock.advance(2000)
    usage = api.get(chained.id).usage
    assert "Glass recycling" in api.get(chained.id).output_text
    for name in type(usage).model_fields:
        assert getattr(usage, name), name
    assert (
        usage.total_cached_tokens
        == first.usage.total_input_tokens + first.usage.total_output_tokens
    )


def test_raw_json_and_events_pass_strict_validation(emulator, clock):
    client = make_client(emulator.base_url)
    raw = client.interactions.with_raw_response
    bodies = [raw.create(model=MODEL, input="raw one", background=True, labels={"a": "b"}).json()]
    bodies.append(
        raw.create(model=MODEL, input="raw two", generation_config={"max_output_tokens": 5}).json()
    )
    bodies.append(raw.create(agent=AGENT, input="raw three", background=True).json())
    emulator.backend.faults.force_outcome("failed")
    bodies.append(raw.create(model=MODEL, input="raw four").json())
    ids = [b["id"] for b in bodies]
    for moment in (0, 1.5, 40, 400, 2000):
        clock.advance(moment)
        for interaction_id in ids:
            bodies.append(raw.get(interaction_id).json())
    bodies.append(
        raw.cancel(raw.create(agent=AGENT, input="stop", background=True).json()["id"]).json()
    )
    statuses = set()
    for body in bodies:
        statuses.add(strict_interaction(body).status)
    assert {"queued", "in_progress", "completed", "incomplete", "failed", "cancelled"} <= statuses
    kinds = set()
    for interaction_id in ids:
        text = httpx2.get(
            f"{emulator.base_url}/v1/interactions/{interaction_id}",
            params={"stream": "true"},
            headers={"x-goog-api-key": "k"},
        ).text
        payloads = sse_payloads(text)
        assert payloads[-1] == "[DONE]"
        for payload in payloads[:-1]:
            kinds.add(type(strict_event(payload)).__name__)
    assert kinds == {
        "InteractionCreatedEvent",
        "InteractionStatusUpdate",
        "StepStart",
        "StepDelta",
        "StepStop",
        "InteractionCompletedEvent",
        "ErrorEvent",
    }


def test_base_url_from_the_environment(monkeypatch, emulator):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", "env-key")
    client = genai.Client(
        http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))
    )
    done = client.interactions.create(model=MODEL, input="via the environment")
    assert client.interactions.get(done.id).status == "completed"
    assert emulator.backend.stats()["api_versions"] == {"v1": 2}


def test_api_version_v1beta(emulator):
    client = make_client(emulator.base_url, api_version="v1beta")
    done = client.interactions.create(model=MODEL, input="beta")
    client.interactions.get(done.id)
    assert emulator.backend.stats()["api_versions"] == {"v1beta": 2}


def test_a_required_key_is_enforced(clock):
    with EmulatorServer(api_key="the-right-key", clock=clock) as server:
        wrong = make_client(server.base_url, api_key="a-wrong-key")
        with pytest.raises(errors.BadRequestError) as err:
            wrong.interactions.create(model=MODEL, input="x")
        assert (
            err.value.body["error"]["message"] == "API key not valid. Please pass a valid API key."
        )
        assert err.value.body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        right = make_client(server.base_url, api_key="the-right-key")
        assert right.interactions.create(model=MODEL, input="x").status == "completed"
        missing = httpx2.post(
            f"{server.base_url}/v1/interactions", json={"model": MODEL, "input": "x"}
        )
        assert missing.status_code == 401
        assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
        stats = server.backend.stats()
        assert stats["creates"] == 1 and stats["rejected_auth"] == 2
        assert stats["requests"]["create"] == 1  # rejected requests never reach the operation


def test_server_side_validation_errors(api):
    with pytest.raises(errors.BadRequestError) as err:
        api.create(model=MODEL, input="both", extra_body={"agent": AGENT})
    assert err.value.body["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(errors.BadRequestError) as err:
        api.create(model=MODEL, input="x", extra_body={"temperature": 0.1})
    assert 'Unknown name "temperature"' in err.value.body["error"]["message"]
    with pytest.raises(errors.BadRequestError):
        api.create(agent=AGENT, input="needs background")
