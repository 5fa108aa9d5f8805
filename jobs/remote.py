"""What the API said about an interaction, as plain data: `RemoteInteraction` and how it is read
from the resource's JSON (a reply body, or an SDK model dumped to a dict). No google-genai here:
the gateway (the only module that imports it) calls the SDK and hands its replies to these
functions, so what is kept of a reply can be read and tested without the SDK."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

USAGE_FIELDS = {
    "input_tokens": "total_input_tokens",
    "output_tokens": "total_output_tokens",
    "thought_tokens": "total_thought_tokens",
    "cached_tokens": "total_cached_tokens",
    "tool_use_tokens": "total_tool_use_tokens",
    "total_tokens": "total_tokens",
}


@dataclass
class RemoteInteraction:
    """What the API said about one interaction, reduced to what the runner stores."""

    id: str
    status: str | None
    created: datetime | None = None
    updated: datetime | None = None
    output_text: str = ""
    thoughts: list[str] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    errors: list[Any] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def usage_figures(self) -> dict[str, int | None]:
        """Our usage columns (input_tokens, ...) from the API's `usage` object."""
        return {ours: as_int(self.usage.get(theirs)) for ours, theirs in USAGE_FIELDS.items()}

    def error_summary(self) -> tuple[str | None, str | None]:
        """(code, message) of the first error the API reported, from `errors` or a step's `error`."""
        for err in self.errors:
            if isinstance(err, dict):
                return str_or_none(err.get("code")), str_or_none(err.get("message"))
        for step in self.steps:
            if isinstance(step, dict) and isinstance(step.get("error"), dict):
                err = step["error"]
                return str_or_none(err.get("code")), str_or_none(err.get("message"))
        return None, None


def remote_from_json(body: dict[str, Any]) -> RemoteInteraction:
    raw = {k: v for k, v in body.items() if k != "output_text"}
    return remote_from_resource(raw, None)


def remote_from_resource(raw: dict[str, Any], output_text: str | None) -> RemoteInteraction:
    """The interaction as we keep it, from its resource as a dict (`output_text`: the SDK's, or
    None to compute it from the steps the same way)."""
    steps = raw.get("steps") if isinstance(raw.get("steps"), list) else []
    usage = raw.get("usage") if isinstance(raw.get("usage"), dict) else {}
    errors = raw.get("errors") if isinstance(raw.get("errors"), list) else []
    status = raw.get("status")
    return RemoteInteraction(
        id=str(raw.get("id") or ""),
        status=status if isinstance(status, str) else None,
        created=parse_time(raw.get("created")),
        updated=parse_time(raw.get("updated")),
        output_text=output_text_of(steps) if output_text is None else output_text,
        thoughts=thought_summaries(steps),
        steps=steps,
        usage=usage,
        errors=errors,
        raw=raw,
    )


def output_text_of(steps: list[Any]) -> str:
    """google-genai's `output_text`: the trailing run of text items of the latest turn's output.

    Walk the steps from the end, stop at the first `user_input`, skip thoughts; in `model_output`
    steps walk the content from the end collecting `text` items; once collecting, a non-text item
    or any other step type ends the run (interactions-api.md 3.4).
    """
    texts: list[str] = []
    for step in reversed(steps):
        if not isinstance(step, dict):
            continue
        kind = step.get("type")
        if kind == "user_input":
            break
        if kind == "thought":
            continue
        if kind != "model_output":
            if texts:
                break
            continue
        stop = False
        for item in reversed(step.get("content") or []):
            if isinstance(item, dict) and item.get("type") == "text":
                texts.append(str(item.get("text") or ""))
            elif texts:
                stop = True
                break
        if stop:
            break
    return "".join(reversed(texts))


def thought_summaries(steps: list[Any]) -> list[str]:
    summaries = []
    for step in steps:
        if isinstance(step, dict) and step.get("type") == "thought":
            parts = step.get("summary") or []
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            if text:
                summaries.append(text)
    return summaries


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def dumps(value: Any) -> str:
    """Compact JSON for storing API payloads."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
