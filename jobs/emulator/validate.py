"""Checks of a create body, with the 400 INVALID_ARGUMENT answers the real service gives.

Google front ends reject unknown JSON fields ("Invalid JSON payload received. Unknown name ...")
and wrong types before the request reaches the model, so the emulator does the same: a request it
accepts is one the real service would at least parse.
"""

from __future__ import annotations

from typing import Any

from jobs.emulator import media
from jobs.emulator.errors import EmulatorError, invalid_argument
from jobs.emulator.script import STEP_TYPES

_COMMON_NAMES = (
    "input background store stream previous_interaction_id system_instruction tools "
    "response_format response_mime_type response_modalities safety_settings labels "
    "webhook_config service_tier continuation_token environment"
)
COMMON_FIELDS = frozenset(_COMMON_NAMES.split())
MODEL_FIELDS = COMMON_FIELDS | {"model", "generation_config", "cached_content"}
AGENT_FIELDS = COMMON_FIELDS | {"agent", "agent_config"}
# Config the resource echoes back (deprecated fields are accepted but not echoed).
ECHO_FIELDS = (
    "system_instruction",
    "generation_config",
    "agent_config",
    "tools",
    "response_format",
    "safety_settings",
    "labels",
    "webhook_config",
    "service_tier",
    "previous_interaction_id",
    "environment",
)
CONTENT_TYPES = frozenset({"text", "image", "audio", "video", "document"})
SERVICE_TIERS = frozenset({"flex", "standard", "priority", "deferred"})


def _type_error(field: str, expected: str) -> EmulatorError:
    return invalid_argument(f"Invalid value at '{field}': expected {expected}.", field=field)


def _check_content(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise _type_error(where, "a content object")
    kind = item.get("type")
    if kind not in CONTENT_TYPES:
        raise invalid_argument(
            f"Invalid value at '{where}.type': {kind!r} is not a content type.", where
        )
    if kind == "text" and not isinstance(item.get("text"), str):
        raise _type_error(f"{where}.text", "a string")
    if kind != "text":
        media.check_block(item, where)


def check_input(value: Any) -> None:
    """A string, a content object, a list of content objects, or a list of steps."""
    if isinstance(value, str):
        return
    if isinstance(value, dict):
        _check_content(value, "input")
        return
    if not isinstance(value, list) or not value:
        raise _type_error("input", "a string, a content object or a non-empty list")
    if all(isinstance(i, dict) and i.get("type") in STEP_TYPES for i in value):
        for n, step in enumerate(value):
            if step["type"] == "user_input":
                parts = step.get("content")
                if not isinstance(parts, list):
                    raise _type_error(f"input[{n}].content", "a list of content objects")
                for m, part in enumerate(parts):
                    _check_content(part, f"input[{n}].content[{m}]")
            elif step["type"] == "function_result" and not isinstance(step.get("call_id"), str):
                raise _type_error(f"input[{n}].call_id", "the id of the function call answered")
        return
    for n, item in enumerate(value):
        _check_content(item, f"input[{n}]")


def check_create(body: Any) -> dict[str, Any]:
    """Validate a create body; returns it (unchanged) or raises EmulatorError 400."""
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received: expected a JSON object.")
    has_model, has_agent = "model" in body, "agent" in body
    if has_model == has_agent:
        which = "both" if has_model else "neither"
        raise invalid_argument(
            f"Exactly one of 'model' or 'agent' must be set ({which} was given).",
            field="model" if has_agent else "agent",
        )
    allowed = MODEL_FIELDS if has_model else AGENT_FIELDS
    for key in body:
        if key not in allowed:
            if key in MODEL_FIELDS | AGENT_FIELDS:
                mode = "model" if has_model else "agent"
                raise invalid_argument(f"'{key}' cannot be used with '{mode}'.", field=key)
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.',
                field=key,
            )
    name = body["model"] if has_model else body["agent"]
    if not isinstance(name, str) or not name:
        raise _type_error("model" if has_model else "agent", "a non-empty string")
    if "input" in body:
        check_input(body["input"])
    elif "continuation_token" not in body:
        raise invalid_argument("'input' is required.", field="input")
    for key in ("background", "store", "stream"):
        if key in body and not isinstance(body[key], bool):
            raise _type_error(key, "a boolean")
    for key in ("system_instruction", "previous_interaction_id", "continuation_token"):
        if key in body and not isinstance(body[key], str):
            raise _type_error(key, "a string")
    labels = body.get("labels")
    if labels is not None and (
        not isinstance(labels, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise _type_error("labels", "a map of strings to strings")
    for key in ("generation_config", "agent_config", "webhook_config"):
        if key in body and not isinstance(body[key], dict):
            raise _type_error(key, "an object")
    uris = (body.get("webhook_config") or {}).get("uris")
    if uris is not None and not (isinstance(uris, list) and all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in uris)):  # fmt: skip
        raise _type_error("webhook_config.uris", "a list of http(s) URIs")
    if "tools" in body and not (
        isinstance(body["tools"], list) and all(isinstance(t, dict) for t in body["tools"])
    ):
        raise _type_error("tools", "a list of tool objects")
    limit = (body.get("generation_config") or {}).get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise _type_error("generation_config.max_output_tokens", "a positive integer")
    if "service_tier" in body and body["service_tier"] not in SERVICE_TIERS:
        raise _type_error("service_tier", "one of " + ", ".join(sorted(SERVICE_TIERS)))
    if body.get("store") is False and body.get("background") is True:
        raise invalid_argument("'background' requires 'store' to be true.", field="store")
    if has_agent and "deep-research" in name and body.get("background") is not True:
        # The Deep Research docs: agent runs take minutes and must be started with background=true.
        raise invalid_argument(
            "Deep Research agents must run in the background: set 'background' to true.",
            field="background",
        )
    return body
