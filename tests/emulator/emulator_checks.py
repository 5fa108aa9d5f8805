"""Checks shared by the emulator's tests: strict validation against the SDK's own models."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import interactions as gi
from google.genai import types
from waiting import wait_for  # noqa: F401  (re-exported for the emulator tests)

_EVENTS = pydantic.TypeAdapter(gi.InteractionSSEEvent)


def assert_known(obj: Any, path: str = "$") -> None:
    """Fail if any part of a parsed SDK object fell back to an Unknown* variant."""
    if getattr(obj, "is_unknown", False) is True:
        raise AssertionError(f"{path} parsed as {type(obj).__name__}: {getattr(obj, 'raw', obj)!r}")
    if isinstance(obj, pydantic.BaseModel):
        for name, value in obj.__dict__.items():  # not getattr: deprecated fields would warn
            assert_known(value, f"{path}.{name}")
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            assert_known(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            assert_known(value, f"{path}.{key}")


def strict_interaction(raw: dict[str, Any]) -> gi.Interaction:
    """Validate raw JSON as the SDK's Interaction without its lenient fallbacks."""
    model = gi.Interaction.model_validate(raw)  # no context: invalid known variants raise
    assert_known(model)
    assert model.id and model.status and model.created and model.updated
    return model


def strict_event(raw: dict[str, Any]) -> Any:
    """Validate one SSE payload as the SDK's event union; a known, non-error event unless typed so."""
    event = _EVENTS.validate_python(raw)
    assert_known(event)
    assert event.event_type == raw["event_type"]
    assert event.event_id == raw["event_id"]
    if raw["event_type"] != "error":
        assert not isinstance(event, gi.ErrorEvent)
    return event


def sse_payloads(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON-decoded ("[DONE]" stays a string)."""
    out = []
    for block in text.split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            joined = "\n".join(data)
            out.append(joined if joined == "[DONE]" else json.loads(joined))
    return out


def raw_get(
    base_url: str, path: str, key: str | None = "test-key", **params: str
) -> httpx2.Response:
    headers = {"x-goog-api-key": key} if key else {}
    return httpx2.get(f"{base_url}{path}", params=params, headers=headers, timeout=10)


def output_text(resource: dict) -> str:
    """The text of a resource's model_output steps (what the SDK's output_text would be)."""
    outputs = [s for s in resource["steps"] if s["type"] == "model_output"]
    return "".join(c["text"] for s in outputs for c in s.get("content", []) if c["type"] == "text")


def run_to_end(backend: Any, clock: Any, interaction_id: str) -> dict:
    """Advance the fake clock until the interaction is no longer queued or running."""
    for _ in range(10_000):
        resource = backend.get(interaction_id)
        if resource["status"] not in ("queued", "in_progress"):
            return resource
        clock.advance(5)
    raise AssertionError("the interaction never ended")


API_KEY = "test-key"


def make_client(base_url: str, *, attempts: int | None = 1, **options: object) -> genai.Client:
    """A real SDK client pointed at the emulator; retries off (attempts=None: the SDK's default)."""
    retry = types.HttpRetryOptions(attempts=attempts) if attempts is not None else None
    return genai.Client(
        api_key=options.pop("api_key", API_KEY),
        http_options=types.HttpOptions(base_url=base_url, retry_options=retry, **options),
    )
