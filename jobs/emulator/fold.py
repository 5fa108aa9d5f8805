"""From events to state: the interaction a client would reconstruct from its stream.

`fold()` replays event payloads into a status, steps, usage and errors. The backend answers GET with
the fold of the events visible at that moment, which keeps polling and streaming consistent by
construction. `cancel_tail()` makes the events that end an interaction cancelled mid-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jobs.emulator import content as c
from jobs.emulator.script import Spec, usage_for


@dataclass
class Folded:
    status: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    open: set[int] = field(default_factory=set)  # started, not yet stopped
    usage: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    continuation_token: str | None = None
    arguments: dict[int, str] = field(default_factory=dict)  # function-call JSON so far, per step
    thought: int = 0
    output: int = 0
    tool_use: int = 0
    searches: int = 0

    def closed_steps(self) -> list[dict[str, Any]]:
        return [s for i, s in enumerate(self.steps) if i not in self.open]


def fold(payloads: list[dict[str, Any]], state: Folded | None = None) -> Folded:
    """Replay event payloads (in order) into the state they describe; with `state`, continue
    from it (it is updated in place)."""
    f = state if state is not None else Folded()
    texts: dict[int, list[str]] = {}  # text pieces per step, joined once at the end
    for p in payloads:
        kind = p["event_type"]
        if kind == "step.delta":
            i, delta = p["index"], p["delta"]
            dtype = delta.get("type")
            if dtype == "text":
                texts.setdefault(i, []).append(delta["text"])
            elif dtype == "thought_summary":
                f.steps[i].setdefault("summary", []).append(delta["content"])
            elif dtype == "thought_signature":
                f.steps[i]["signature"] = delta["signature"]
            elif dtype == "arguments_delta":
                f.arguments[i] = f.arguments.get(i, "") + (delta.get("arguments") or "")
            elif dtype == "text_annotation_delta":
                _join_texts(f, {i: texts.pop(i, [])})
                parts = f.steps[i].get("content") or []
                if parts and parts[-1].get("type") == "text":
                    annotations = [*parts[-1].get("annotations", []), *delta.get("annotations", [])]
                    parts[-1] = {**parts[-1], "annotations": annotations}
            elif dtype == f.steps[i].get("type"):  # a built-in tool's call or result content
                f.steps[i].update({k: v for k, v in delta.items() if k != "type"})
        elif kind == "step.start":
            step = dict(p["step"])
            if "content" in step:
                step["content"] = list(step["content"])
            f.steps.append(step)
            f.open.add(p["index"])
        elif kind == "step.stop":
            i = p["index"]
            f.open.discard(i)
            if i in f.arguments:  # the raw JSON is whole now (unless a cancel cut it short)
                try:
                    f.steps[i]["arguments"] = json.loads(f.arguments.pop(i) or "{}")
                except ValueError:
                    f.steps[i]["arguments"] = {}
            usage = p.get("step_usage") or {}
            f.thought += usage.get("total_thought_tokens", 0)
            f.output += usage.get("total_output_tokens", 0)
            f.tool_use += usage.get("total_tool_use_tokens", 0)
            if f.steps[i].get("type") == "google_search_call":
                f.searches += 1
        elif kind == "interaction.created":
            f.status = p["interaction"]["status"]
        elif kind == "interaction.status_update":
            f.status = p["status"]
        elif kind == "interaction.completed":
            done = p["interaction"]
            f.status = done["status"]
            f.usage = done.get("usage")
            f.continuation_token = done.get("continuation_token")
        elif kind == "error":
            f.errors.append(p["error"])
    _join_texts(f, texts)
    return f


def _join_texts(f: Folded, texts: dict[int, list[str]]) -> None:
    for i, pieces in texts.items():
        if not pieces:
            continue
        parts = f.steps[i]["content"]
        if parts and parts[-1].get("type") == "text":  # more of a text already begun
            parts[-1] = {**parts[-1], "text": parts[-1]["text"] + "".join(pieces)}
        else:
            parts.append({"type": "text", "text": "".join(pieces)})


def _partial_usage(step: dict[str, Any]) -> dict[str, Any]:
    if step.get("type") == "model_output":
        n = sum(c.tokens(part.get("text", "")) for part in step.get("content", []))
        return {
            "total_output_tokens": n,
            "output_tokens_by_modality": [{"modality": "text", "tokens": n}],
        }
    if step.get("type") == "thought":
        text = "".join(s.get("text", "") for s in step.get("summary", []))
        return {"total_thought_tokens": c.tokens(text) * c.THOUGHT_FACTOR}
    return {}


def cancel_tail(
    spec: Spec, payloads: list[dict[str, Any]], status: str = "cancelled"
) -> list[dict[str, Any]]:
    """Events that end the interaction now: stop the open steps, then complete as `status`."""
    state = fold(payloads)
    tail: list[dict[str, Any]] = []
    for i in sorted(state.open):
        stop: dict[str, Any] = {"event_type": "step.stop", "index": i}
        usage = _partial_usage(state.steps[i])
        if usage:
            stop["step_usage"] = usage
        tail.append(stop)
    state = fold(payloads + tail)
    usage = usage_for(spec, state.output, state.thought, state.tool_use, state.searches)
    tail.append(
        {
            "event_type": "interaction.completed",
            "interaction": {**spec.head, "status": status, "usage": usage},
        }
    )
    return tail
