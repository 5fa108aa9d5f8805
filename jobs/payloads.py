"""Large payloads stored once. The API's timeline (`steps`) starts a turn with a `user_input` step
that repeats the request's input; for a large prompt the stored steps name the request instead of
holding a second copy, and readers (`show --json`) put it back, so what they see is unchanged.

Whether a step repeats the request is decided by a digest of the text prompt, recorded with the
request (`job_requests.input_sha256`): recording a job's end never reads its request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

LARGE = 64 * 1024  # characters; smaller steps are kept as returned
REQUEST_INPUT = {"type": "user_input", "content_ref": "request.input"}


def _as_content(request_input: Any) -> Any:
    """The `content` of the user_input step the API makes of a request's `input`."""
    if isinstance(request_input, str):
        return [{"type": "text", "text": request_input}]
    return request_input


_CHUNK = 1 << 20  # characters encoded at a time: a digest of 50 MB costs no 50 MB copy


def input_digest(request_input: Any) -> str | None:
    """The digest recorded for a text prompt (None for any other input: not compacted)."""
    if not isinstance(request_input, str):
        return None
    digest = hashlib.sha256()
    for start in range(0, len(request_input), _CHUNK):
        digest.update(request_input[start : start + _CHUNK].encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _step_text(step: Any) -> str | None:
    """The text of a user_input step that is one text part and nothing else."""
    if (
        not isinstance(step, dict)
        or step.get("type") != "user_input"
        or set(step) - {"type", "content"}
    ):
        return None
    content = step.get("content")
    if (
        isinstance(content, list)
        and len(content) == 1
        and isinstance(content[0], dict)
        and set(content[0]) == {"type", "text"}
        and content[0]["type"] == "text"
        and isinstance(content[0]["text"], str)
    ):
        return content[0]["text"]
    return None


def compact_steps(steps: list[Any], request_digest: Callable[[], str | None]) -> list[Any]:
    """`steps` with a large user_input step that repeats this job's own (text) request replaced
    by a reference to it (`request_digest`, the recorded input_digest, is called only when there
    is such a step)."""
    out, recorded, have = [], None, False
    for step in steps:
        text = _step_text(step)
        if text is not None and len(text) > LARGE:
            if not have:
                recorded, have = request_digest(), True
            if recorded is not None and input_digest(text) == recorded:
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
