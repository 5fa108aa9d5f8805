"""Tools through the real SDK: schema-valid function arguments, arguments streamed as deltas, the
steps of every built-in tool (in `get` and in the stream), citations, status updates, usage on
deltas, and the `cancel` 404 / early `get` 403 faults. Everything is validated strictly against the
SDK's own models (no Unknown* fallbacks)."""

from __future__ import annotations

import json

import httpx2
import pytest
from emulator_checks import make_client, sse_payloads, strict_event, strict_interaction
from google.genai import _interactions as errors
from google.genai import interactions as gi

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"

BOOKING = {
    "type": "function",
    "name": "book_table",
    "description": "Book a restaurant table",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "party_size": {"type": "integer", "minimum": 1, "maximum": 12},
            "seating": {"type": "string", "enum": ["indoor", "terrace", "bar"]},
            "vegetarian": {"type": "boolean"},
            "when": {"type": "string", "format": "date"},
            "notes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "contact": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "phone": {"type": "string"}},
                "required": ["name"],
            },
        },
        "required": ["city", "party_size", "seating", "contact"],
    },
}
BUILTINS = [
    {"type": "google_search"},
    {"type": "code_execution"},
    {"type": "url_context"},
    {"type": "google_maps"},
    {"type": "file_search", "file_search_store_names": ["fileSearchStores/menus"]},
    {"type": "mcp_server", "name": "kitchen", "url": "https://mcp.example/sse"},
    {"type": "retrieval", "retrieval_types": ["rag_store"]},
    {"type": "tool_search"},
]


def check_against_schema(value, schema):
    """The checks a validating client makes: required properties, types, enums, bounds."""
    kind = schema.get("type")
    if "enum" in schema:
        assert value in schema["enum"], (value, schema["enum"])
    if kind == "object":
        assert isinstance(value, dict)
        for name in schema.get("required", []):
            assert name in value, f"missing required {name}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                check_against_schema(value[name], sub)
    elif kind == "array":
        assert isinstance(value, list) and len(value) >= schema.get("minItems", 0)
        for item in value:
            check_against_schema(item, schema["items"])
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool)
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value)
    elif kind == "string":
        assert isinstance(value, str) and value
    elif kind == "boolean":
        assert isinstance(value, bool)


def stream_events(base_url, interaction_id):
    text = httpx2.get(
        f"{base_url}/v1/interactions/{interaction_id}",
        params={"stream": "true"},
        headers={"x-goog-api-key": "k"},
        timeout=10,
    ).text
    payloads = sse_payloads(text)
    assert payloads[-1] == "[DONE]"
    return payloads[:-1]


def test_function_arguments_satisfy_the_declared_schema_and_are_deterministic(emulator):
    client = make_client(emulator.base_url)
    prompt = "Please book a table in Lisbon for 4 people"
    first = client.interactions.create(model=MODEL, input=prompt, tools=[BOOKING])
    again = client.interactions.create(model=MODEL, input=prompt, tools=[BOOKING])
    assert first.status == "requires_action"
    call = first.steps[-1]
    assert isinstance(call, gi.FunctionCallStep) and call.name == "book_table"
    check_against_schema(call.arguments, BOOKING["parameters"])
    assert call.arguments["city"] == "Lisbon" and call.arguments["party_size"] == 4
    assert again.steps[-1].arguments == call.arguments  # derived from the input, not random


def test_upper_case_schema_types_as_adk_sends_them(emulator):
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
            "required": ["city", "days"],
        },
    }
    client = make_client(emulator.base_url)
    asked = client.interactions.create(
        model=MODEL, input="What's the weather in Tokyo?", tools=[tool]
    )
    assert asked.status == "requires_action"  # "weather" names get_weather without its name
    args = asked.steps[-1].arguments
    assert isinstance(args["city"], str) and isinstance(args["days"], int)


def test_streamed_function_call_sends_arguments_as_deltas(emulator):
    client = make_client(emulator.base_url)
    events = list(
        client.interactions.create(
            model=MODEL, input="book_table in Oslo for 2", tools=[BOOKING], stream=True
        )
    )
    start = next(
        e for e in events if isinstance(e, gi.StepStart) and e.step.type == "function_call"
    )
    assert start.step.arguments == {}  # id and name first; arguments follow
    chunks = [
        e.delta.arguments
        for e in events
        if isinstance(e, gi.StepDelta) and isinstance(e.delta, gi.ArgumentsDelta)
    ]
    assert len(chunks) > 1
    arguments = json.loads("".join(chunks))  # what a client assembles from the deltas
    check_against_schema(arguments, BOOKING["parameters"])
    final = client.interactions.get(
        next(e for e in events if e.event_type == "interaction.created").interaction.id
    )
    assert final.steps[-1].arguments == arguments


def test_every_builtin_tool_yields_its_call_and_result_steps(emulator, clock):
    client = make_client(emulator.base_url)
    created = client.interactions.create(
        model=MODEL,
        input="Dinner ideas near Porto https://food.example/porto",
        tools=BUILTINS,
        background=True,
    )
    clock.advance(60)
    raw = client.interactions.with_raw_response.get(created.id).json()
    done = strict_interaction(raw)
    kinds = [s.type for s in done.steps]
    for tool in ("google_search", "code_execution", "url_context", "google_maps", "file_search", "retrieval", "tool_search"):  # fmt: skip
        assert f"{tool}_call" in kinds and f"{tool}_result" in kinds, tool
    assert "mcp_server_tool_call" in kinds and "mcp_server_tool_result" in kinds
    code = next(s for s in done.steps if s.type == "code_execution_call")
    assert code.arguments.code and code.arguments.language == "python"
    result = next(s for s in done.steps if s.type == "code_execution_result")
    assert result.call_id == code.id and result.result
    urls = next(s for s in done.steps if s.type == "url_context_call")
    assert urls.arguments.urls == ["https://food.example/porto"]
    places = next(s for s in done.steps if s.type == "google_maps_result")
    assert places.result[0].places[0].name
    text = next(s for s in done.steps if s.type == "model_output").content[-1]
    assert {a.type for a in text.annotations} == {"url_citation", "place_citation", "file_citation"}
    for a in text.annotations:
        assert 0 <= a.start_index < a.end_index <= len(text.text)

    events = [strict_event(p) for p in stream_events(emulator.base_url, created.id)]
    deltas = {type(e.delta).__name__ for e in events if isinstance(e, gi.StepDelta)}
    assert {
        "GoogleSearchCallDelta", "GoogleSearchResultDelta", "CodeExecutionCallDelta",
        "CodeExecutionResultDelta", "URLContextCallDelta", "URLContextResultDelta",
        "GoogleMapsCallDelta", "GoogleMapsResultDelta", "FileSearchCallDelta",
        "FileSearchResultDelta", "MCPServerToolCallDelta", "MCPServerToolResultDelta",
        "RetrievalCallDelta", "RetrievalResultDelta", "ToolSearchCallDelta",
        "ToolSearchResultDelta", "TextDelta", "TextAnnotationDelta",
    } <= deltas  # fmt: skip


def test_status_updates_for_every_change_and_usage_on_deltas(emulator, clock):
    client = make_client(emulator.base_url)
    created = client.interactions.create(model=MODEL, input="Moths", background=True)
    clock.advance(60)
    events = [strict_event(p) for p in stream_events(emulator.base_url, created.id)]
    updates = [e.status for e in events if isinstance(e, gi.InteractionStatusUpdate)]
    assert updates == ["in_progress", "completed"]
    assert events[-1].event_type == "interaction.completed"
    metered = [e for e in events if isinstance(e, gi.StepDelta) and e.metadata]
    assert metered, "no delta carries metadata.total_usage"
    totals = [e.metadata.total_usage.total_tokens for e in metered]
    assert totals == sorted(totals)
    assert totals[-1] == events[-1].interaction.usage.total_tokens


def test_deep_research_report_carries_citations(emulator, clock):
    client = make_client(emulator.base_url)
    emulator.backend.configure(speed=600)
    created = client.interactions.create(
        agent=AGENT, input="Glass recycling in Europe", background=True
    )
    clock.advance(5)
    done = client.interactions.get(created.id)
    assert done.status == "completed"
    text = done.steps[-1].content[-1]
    assert text.annotations and all(a.type == "url_citation" for a in text.annotations)
    for a in text.annotations:
        cited = text.text[a.start_index : a.end_index]
        assert cited.rstrip().endswith("]") and a.url.startswith("https://research.example/")


def test_cancel_answering_404_fault(emulator, clock):
    client = make_client(emulator.base_url)
    created = client.interactions.create(model=MODEL, input="x", background=True)
    emulator.backend.faults.cancel_not_found(times=1)
    with pytest.raises(errors.NotFoundError):
        client.interactions.cancel(created.id)
    assert client.interactions.get(created.id).status in ("queued", "in_progress")  # still live
    assert client.interactions.cancel(created.id).status == "cancelled"


def test_get_answering_403_right_after_create_fault(emulator, clock):
    client = make_client(emulator.base_url)
    emulator.backend.faults.forbidden_after_create(seconds=2)
    created = client.interactions.create(model=MODEL, input="x", background=True)
    with pytest.raises(errors.PermissionDeniedError):
        client.interactions.get(created.id)
    clock.advance(2.5)
    assert client.interactions.get(created.id).id == created.id
