"""The timeline of one interaction: which events happen, at which simulated second.

An interaction's whole life is decided when it is created (plan.py lays it out): every event it
will ever emit, each at a simulated offset from its creation. Nothing runs in the background; the
backend shows the events whose offset has passed (elapsed * speed), so ten thousand live
interactions cost a few hundred bytes each and no timers. The resource a GET returns is the fold of
the visible events (fold.py), so polling and streaming never disagree.

Laying out a timeline is cheap; writing its text is not. So a `Script` is a list of `Item`s (a bare
event, or a step: start, deltas, stop) whose offsets are known at once and whose payloads are made
on demand, each from its own seed: a running Deep Research interaction costs only the thought
summaries someone looked at, and its report is written when the report is due. Everything is
deterministic, so a script dropped from the cache is rebuilt identically.
"""

from __future__ import annotations

import base64
import functools
import math
import random
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from jobs.emulator import content as c
from jobs.emulator import media, planning, rounds
from jobs.emulator import tools as tl

STALLED = ("queued", "in_progress")  # a forced outcome in these never ends: a stuck job
CANCELLABLE = ("queued", "in_progress", "requires_action")
Payload = dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """Everything a script is derived from; the backend keeps one per interaction."""

    id: str
    kind: str  # "model" or "agent"
    name: str
    input: Any
    system_instruction: str = ""
    generation_config: Any = None
    agent_config: Any = None
    tools: Any = None
    response_format: Any = None
    response_mime_type: str | None = None
    history: tuple[str, ...] = ()
    history_tokens: int = 0
    background: bool = False
    outcome: str | None = None
    output_bytes: int | None = None
    continues: Spec | None = None  # the interaction whose cut-short answer this one finishes
    attachments: tuple[media.Attachment, ...] = ()  # the input's media blocks, described
    loop: rounds.Loop | None = None  # function-call rounds (rounds.py)
    plan: planning.Plan | None = None  # collaborative planning (planning.py)
    violate: str | None = None  # a schema_violation fault's mode

    @property
    def is_research(self) -> bool:
        return self.kind == "agent" and "deep-research" in self.name

    @property
    def head(self) -> dict[str, Any]:
        key = "agent" if self.kind == "agent" else "model"
        return {"id": self.id, "object": "interaction", key: self.name}


class Item:
    """A bare event (`deltas` is None) or a step (step.start, `deltas` step.delta, step.stop)."""

    __slots__ = ("kind", "start", "end", "deltas", "index", "arg")

    def __init__(self, kind: str, start: float, end: float | None = None, deltas: int | None = None, arg: Any = None) -> None:  # fmt: skip
        self.kind, self.start, self.deltas, self.arg = kind, start, deltas, arg
        self.end = start if end is None else end
        self.index = -1  # the step's index, set by the Script

    @property
    def count(self) -> int:
        return 1 if self.deltas is None else self.deltas + 2


@dataclass
class Context:
    """What the payload makers need besides the spec (decided when the timeline was laid out)."""

    seed: int
    final: str
    show: bool = True  # thought summaries shown
    thoughts: int = 0  # expected number of research thoughts
    minutes: int = 0  # research duration, for the report
    searches: int = 0
    text: str | None = None  # a model's answer (a report is written when needed)
    errors: list[Payload] | None = None
    token: str | None = None  # continuation token
    annotate: bool = False  # the output ends with a text_annotation_delta (citations)
    calls: list[tuple[str, str, dict[str, Any]]] | None = None  # (id, name, arguments) asked for
    plan_turn: bool = False  # this turn shows a research plan (planning.py)


class Script:
    """The laid-out timeline; payloads are made (and kept) item by item as they are asked for."""

    def __init__(self, spec: Spec, items: list[Item], ctx: Context) -> None:
        self.spec, self.items, self.ctx = spec, items, ctx
        self.final_status, self.errors = ctx.final, ctx.errors
        self.end = math.inf if ctx.final in STALLED else items[-1].start
        self.first = array("l", accumulate([0, *(item.count for item in items[:-1])]))
        offsets = array("d")
        steps = 0
        for item in items:
            if item.deltas is None:
                offsets.append(item.start)
                continue
            item.index, steps = steps, steps + 1
            span, n = item.end - item.start, item.deltas
            offsets.append(item.start)
            offsets.extend(item.start + span * (k + 1) / (n + 1) for k in range(n))
            offsets.append(item.end)
        self.offsets = offsets
        # Milestones: the events that change what a GET shows (bare events and step stops). A
        # status-only one (queued -> in_progress) can be applied without making any payload.
        self.marks = array("d", (i.end for i in items))
        self.status_only = bytes(i.kind == "status" for i in items)
        self._made: dict[int, list[Payload]] = {}
        self._usage: dict[str, Any] | None = None
        self._running: dict[int, tuple[int, int, int, int]] = {}  # step usage totals up to item i

    def payloads(self, start: int = 0, stop: int | None = None) -> list[Payload]:
        """The payloads of events [start, stop), making only the items they belong to."""
        stop = len(self.offsets) if stop is None else min(stop, len(self.offsets))
        out: list[Payload] = []
        i = max(0, bisect_right(self.first, start) - 1)
        while start < stop and i < len(self.items) and self.first[i] < stop:
            first = self.first[i]
            out.extend(self._payloads_of(i)[max(0, start - first) : stop - first])
            i += 1
        return out

    @property
    def events(self) -> list[tuple[float, Payload]]:
        """Every event with its offset (makes every payload)."""
        return list(zip(self.offsets, self.payloads(), strict=True))

    @property
    def usage(self) -> dict[str, Any] | None:
        """The final usage (None for a stalled interaction): the sum of the steps' usage."""
        if self.final_status in STALLED:
            return None
        if self._usage is None:
            totals = dict.fromkeys(("total_output_tokens", "total_thought_tokens", "total_tool_use_tokens"), 0)  # fmt: skip
            for i, item in enumerate(self.items):
                if item.deltas is not None:
                    step_usage = self._payloads_of(i)[-1].get("step_usage", {})
                    for key in totals:
                        totals[key] += step_usage.get(key, 0)
            searches = sum(item.kind == "search_call" for item in self.items)
            self._usage = usage_for(self.spec, *totals.values(), searches)
        return self._usage

    # --- making payloads -------------------------------------------------------------------------

    def _payloads_of(self, i: int) -> list[Payload]:
        made = self._made.get(i)
        if made is None:
            item = self.items[i]
            if item.deltas is None:
                made = [getattr(self, f"_event_{item.kind}")(item)]
            else:
                step, deltas, usage = getattr(self, f"_step_{item.kind}")(item)
                made = [{"event_type": "step.start", "index": item.index, "step": step}]
                made += [{"event_type": "step.delta", "index": item.index, "delta": d} for d in deltas]  # fmt: skip
                if deltas:  # the usage so far rides on the step's last delta (StepDeltaMetadata)
                    made[-1]["metadata"] = {"total_usage": self._usage_through(i, usage)}
                stop: Payload = {"event_type": "step.stop", "index": item.index}
                if usage:
                    stop["step_usage"] = usage
                made.append(stop)
            self._made[i] = made
        return made

    def _usage_through(self, i: int, own: Payload) -> dict[str, Any]:
        """The interaction's usage once item `i` (whose step usage is `own`) is done."""
        totals = [0, 0, 0, 0]  # output, thought, tool use, searches
        for j in range(i):
            item = self.items[j]
            if item.deltas is None:
                continue
            step_usage = self._payloads_of(j)[-1].get("step_usage", {})
            totals[0] += step_usage.get("total_output_tokens", 0)
            totals[1] += step_usage.get("total_thought_tokens", 0)
            totals[2] += step_usage.get("total_tool_use_tokens", 0)
            totals[3] += item.kind == "search_call"
        totals[0] += own.get("total_output_tokens", 0)
        totals[1] += own.get("total_thought_tokens", 0)
        totals[2] += own.get("total_tool_use_tokens", 0)
        totals[3] += self.items[i].kind == "search_call"
        return usage_for(self.spec, *totals)

    def _event_created(self, item: Item) -> Payload:
        return {"event_type": "interaction.created", "interaction": {**self.spec.head, "status": item.arg}}  # fmt: skip

    def _event_status(self, item: Item) -> Payload:
        return {"event_type": "interaction.status_update", "interaction_id": self.spec.id, "status": "in_progress"}  # fmt: skip

    def _event_settled(self, item: Item) -> Payload:
        """The status change to the final status, announced before interaction.completed."""
        event: Payload = {"event_type": "interaction.status_update", "interaction_id": self.spec.id, "status": self.final_status}  # fmt: skip
        if self.usage is not None:
            event["usage"] = self.usage
        if self.ctx.token:
            event["continuation_token"] = self.ctx.token
        return event

    def _event_error(self, item: Item) -> Payload:
        return {"event_type": "error", "error": dict((self.errors or [{}])[0])}

    def _event_completed(self, item: Item) -> Payload:
        done: Payload = {**self.spec.head, "status": self.final_status, "usage": self.usage}
        if self.ctx.token:
            done["continuation_token"] = self.ctx.token
        return {"event_type": "interaction.completed", "interaction": done}

    @functools.cached_property
    def _prompt(self) -> c.Prompt:
        if self.spec.plan is not None:  # "yes" is not what the research is about
            return c.Prompt(text=self.spec.plan.subject)
        return c.read_prompt(self.spec.input)

    @functools.cached_property
    def _words(self) -> list[str]:
        if self.spec.plan is not None:
            return self.spec.plan.keywords(5)
        return c.keywords(self._prompt.text, 5)

    def _step_thought(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        rng = random.Random(self.ctx.seed * 7919 + item.arg)
        if self.ctx.plan_turn and self.spec.plan is not None:
            text = planning.thought(item.arg, self.spec.plan)
        elif self.spec.is_research:
            text = c.research_thought(rng, item.arg, self.ctx.thoughts, self._prompt.excerpt, self._words)  # fmt: skip
        else:
            text = c.model_thought(rng, self._prompt)
        deltas = [{"type": "thought_summary", "content": {"type": "text", "text": text}}] if self.ctx.show else []  # fmt: skip
        deltas.append({"type": "thought_signature", "signature": base64.b64encode(rng.randbytes(12)).decode()})  # fmt: skip
        return {"type": "thought"}, deltas, {"total_thought_tokens": c.tokens(text) * c.THOUGHT_FACTOR}  # fmt: skip

    def _search(self, number: int) -> c.Search:
        seed = self.ctx.seed
        return c.research_search(random.Random(seed + 2 + number), number, self._words, seed)

    def _step_search_call(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        s = self._search(item.arg)
        step = {"type": "google_search_call", "id": s.call_id, "arguments": {}, "search_type": "web_search"}  # fmt: skip
        delta = {"type": "google_search_call", "arguments": {"queries": s.queries}}
        return step, [delta], {"total_tool_use_tokens": c.tokens(" ".join(s.queries))}

    def _step_search_result(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        s = self._search(item.arg)
        step = {"type": "google_search_result", "call_id": s.call_id, "result": []}
        delta = {"type": "google_search_result", "result": [{"search_suggestions": s.result}]}
        return step, [delta], {"total_tool_use_tokens": c.tokens(s.result)}

    def _builtin(self, item: Item) -> Payload:
        return tl.builtin_tools(self.spec.tools)[item.arg]

    def _step_tool_call(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        step, delta, used = tl.call_step(self._builtin(item), item.arg, self._prompt.text, self.ctx.seed, self.spec.tools or [])  # fmt: skip
        return step, [delta], {"total_tool_use_tokens": used}

    def _step_tool_result(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        step, delta, used = tl.result_step(self._builtin(item), item.arg, self._prompt.text, self.ctx.seed, self.spec.tools or [])  # fmt: skip
        return step, [delta], {"total_tool_use_tokens": used}

    def _output_text(self) -> str:
        if self.ctx.text is not None:
            return self.ctx.text
        spec, seed = self.spec, self.ctx.seed
        if spec.output_bytes is not None:
            return c.filler(spec.output_bytes, seed)
        followed = planning.steps(spec.plan) if spec.plan is not None else []
        material = [a.describe(n) for n, a in enumerate(spec.attachments, 1)]
        report = c.research_report(random.Random(seed + 1), self._prompt, spec.name, spec.history, spec.system_instruction, self.ctx.minutes, self.ctx.searches, material, followed, self._words)  # fmt: skip
        return report if self.final_status == "completed" else report[: max(1, len(report) // 2)]

    def _step_output(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        text = self._output_text()
        pieces = item.deltas - self.ctx.annotate
        size = max(1, math.ceil(len(text) / pieces))
        deltas = [{"type": "text", "text": text[k * size : (k + 1) * size]} for k in range(pieces)]  # fmt: skip
        if self.ctx.annotate:
            deltas.append({"type": "text_annotation_delta", "annotations": self._citations(text)})
        n = c.tokens(text)
        usage = {"total_output_tokens": n, "output_tokens_by_modality": [{"modality": "text", "tokens": n}]}  # fmt: skip
        return {"type": "model_output", "content": []}, deltas, usage

    def _citations(self, text: str) -> list[Payload]:
        if self.spec.is_research:
            return tl.report_citations(text)
        used = tl.declared_types(self.spec.tools)
        stores = next((t.get("file_search_store_names") for t in self.spec.tools or [] if isinstance(t, dict) and t.get("type") == "file_search"), None)  # fmt: skip
        return tl.grounding_annotations(text, used, self._words, self.ctx.seed, stores or ["fileSearchStores/emulator"])  # fmt: skip

    def _step_failure(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        error = {"code": 13, "message": "The model failed to produce a response."}
        return {"type": "model_output", "error": error}, [], {}

    def _step_call(self, item: Item) -> tuple[Payload, list[Payload], Payload]:
        """A function call: id and name first, then its arguments as raw JSON chunks."""
        call_id, name, arguments = (self.ctx.calls or [])[item.arg]
        deltas = [{"type": "arguments_delta", "arguments": chunk} for chunk in tl.argument_chunks(arguments)]  # fmt: skip
        return {"type": "function_call", "id": call_id, "name": name, "arguments": {}}, deltas, {}  # fmt: skip


def usage_for(
    spec: Spec, output: int, thought: int, tool_use: int, searches: int
) -> dict[str, Any]:
    """The usage of an interaction that produced these counts (input side from the spec)."""
    by_modality = {"text": c.tokens(c.read_prompt(spec.input).text) + c.tokens(spec.system_instruction)}  # fmt: skip
    for attachment in spec.attachments:
        by_modality[attachment.kind] = by_modality.get(attachment.kind, 0) + attachment.tokens
    return c.usage_totals(by_modality, spec.history_tokens, {"text": output}, thought, tool_use, searches)  # fmt: skip


def input_steps(value: Any) -> list[Payload]:
    """The `input` as the steps a GET shows (a `user_input` step, or the caller's own steps)."""
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    if isinstance(value, dict):
        return [{"type": "user_input", "content": [value]}]
    if isinstance(value, list) and value and all(isinstance(i, dict) and i.get("type") in STEP_TYPES for i in value):  # fmt: skip
        return list(value)
    if isinstance(value, list) and value:
        return [{"type": "user_input", "content": list(value)}]
    return []


_STEP_NAMES = (
    "user_input model_output thought function_call function_result google_search_call "
    "google_search_result code_execution_call code_execution_result url_context_call "
    "url_context_result mcp_server_tool_call mcp_server_tool_result file_search_call "
    "file_search_result google_maps_call google_maps_result retrieval_call retrieval_result "
    "tool_search_call tool_search_result processing_call processing_result"
)
STEP_TYPES = frozenset(_STEP_NAMES.split())
