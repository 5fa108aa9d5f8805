"""Schema-shaped replies: JSON that satisfies a `response_format` schema, or breaks it on purpose.

With `response_format: {"mime_type": "application/json", "schema": S}` the answer is a JSON
document valid against S, made by the same schema filler as function-call arguments (tools.py:
required properties, types, enums, bounds, nested objects and arrays, `$ref`, `anyOf`...). The
`schema_violation` fault makes it invalid in a way a validating client must report:
`missing_required` drops a required property (the first; a wrong type when none is required),
`wrong_type` gives a property (or the root) a value of another type, `not_json` cuts the text so
it no longer parses.
"""

from __future__ import annotations

import json
from typing import Any

from jobs.emulator import tools as tl


def schema_of(response_format: Any, response_mime_type: str | None) -> tuple[bool, Any]:
    """(JSON wanted, its schema or None) from a request's response_format (object or list)."""
    for item in response_format if isinstance(response_format, list) else [response_format]:
        if isinstance(item, dict) and item.get("mime_type") == "application/json":
            return True, item.get("schema")
    return response_mime_type == "application/json", None


def answer(schema: Any, prompt: str, seed: int, violate: str | None = None) -> str:
    """The JSON text of a reply shaped by `schema` (any object when there is none)."""
    node = schema if isinstance(schema, dict) and schema else {"type": "object", "properties": {"answer": {"type": "string"}}}  # fmt: skip
    value = tl.schema_value(node, prompt, seed)
    if violate == "not_json":
        text = json.dumps(value, indent=2)
        return text[: max(1, len(text) // 2)]
    if violate is not None:
        value = broken(value, node, violate)
    return json.dumps(value, indent=2)


def broken(value: Any, schema: dict[str, Any], mode: str) -> Any:
    """`value` made invalid against `schema`: a required property dropped, or a wrong type."""
    if isinstance(value, dict):
        required = [k for k in schema.get("required") or [] if k in value]
        if mode == "missing_required" and required:
            return {k: v for k, v in value.items() if k != required[0]}
        props = schema.get("properties") or {}
        typed = [k for k in value if isinstance(props.get(k), dict) and isinstance(props[k].get("type"), str)]  # fmt: skip
        victim = next(iter([k for k in required if k in typed] or typed or list(value)), None)
        if victim is None:
            return [value]  # an empty object still breaks "type": "object" as an array
        return {**value, victim: _other_type(value[victim])}
    return _other_type(value)


def _other_type(value: Any) -> Any:
    """A value of a different JSON type than `value` (and not one a number schema accepts)."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return "not a number"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"unexpected": value}
    if isinstance(value, dict):
        return [value]
    return "null is not allowed here"
