"""Large payloads stored once. The API's timeline (`steps`) starts a turn with a `user_input` step
that repeats the request's input; for a large prompt the stored steps name the request instead of
holding a second copy, and readers (`show --json`) put it back, so what they see is unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

LARGE = 64 * 1024  # characters; smaller steps are kept as returned
REQUEST_INPUT = {"type": "user_input", "content_ref": "request.input"}


def _as_content(request_input: Any) -> Any:
    """The `content` of the user_input step the API makes of a request's `input`."""
    if isinstance(request_input, str):
        return [{"type": "text", "text": request_input}]
    return request_input


def compact_steps(steps: list[Any], request_input: Callable[[], Any]) -> list[Any]:
    """`steps` with a large user_input step that repeats this job's own request replaced by a
    reference to it (`request_input` is called only when there is such a step)."""
    out, loaded, have = [], None, False
    for step in steps:
        if (
            isinstance(step, dict)
            and step.get("type") == "user_input"
            and len(json.dumps(step.get("content"), ensure_ascii=False)) > LARGE
        ):
            if not have:
                loaded, have = _as_content(request_input()), True
            if step.get("content") == loaded and set(step) <= {"type", "content"}:
                step = dict(REQUEST_INPUT)
        out.append(step)
    return out


def expand_steps(steps: list[Any], request_input: Any) -> list[Any]:
    """The steps as the API returned them (the inverse of compact_steps)."""
    return [
        {"type": "user_input", "content": _as_content(request_input)}
        if step == REQUEST_INPUT
        else step
        for step in steps
    ]
