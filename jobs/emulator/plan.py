"""Laying out an interaction's timeline: how long it queues, thinks, searches and writes.

A model answers in 3 to 15 simulated seconds: a thought (unless thinking is minimal), a search when
the google_search tool is declared, then the answer. A Deep Research agent works 5 to 25 simulated
minutes: a thought summary every 20 to 60 seconds, a search after every third one, then a report.
Forced outcomes (the fault plan) and the request's limits decide how it ends. Only timing and
decisions are made here; the text is written on demand by the Script (script.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

from jobs.emulator import content as c
from jobs.emulator import planning, rounds, schemas
from jobs.emulator import tools as tl
from jobs.emulator.script import STALLED, Context, Item, Script, Spec

OUTPUT_CHUNKS = 40  # text deltas of a Deep Research report
THINKING = {"minimal": 0.0, "low": 0.6, "medium": 1.0, "high": 1.6, "xhigh": 2.0}


def build_script(spec: Spec) -> Script:
    """Lay out the interaction's life: every event, with its simulated offset."""
    gen = spec.generation_config if isinstance(spec.generation_config, dict) else {}
    agent_config = spec.agent_config if isinstance(spec.agent_config, dict) else {}
    # a token limit cuts the answer short; it does not change what the model would have said
    sampling = {k: v for k, v in gen.items() if k != "max_output_tokens"}
    seed = c.seed_of(
        spec.kind, spec.name, spec.input, spec.system_instruction, sampling, spec.history,
        spec.response_format,
    )  # fmt: skip
    rng = random.Random(seed)  # timing only: text comes from per-item seeds
    show = (gen.get("thinking_summaries") or agent_config.get("thinking_summaries")) != "none"
    ctx = Context(seed=seed, final="completed", show=show)
    queued = 0.0
    if spec.background:
        queued = rng.uniform(2.0, 8.0) if spec.is_research else rng.uniform(1.0, 2.0)
    items = [Item("created", 0.0, arg="queued" if spec.background else "in_progress")]
    if spec.outcome == "queued":  # forced to stay queued: nothing else ever happens
        ctx.final = "queued"
        return Script(spec, items, ctx)
    items.append(Item("status", queued))
    lay_out = _research if spec.is_research else _model
    start, end = lay_out(spec, ctx, rng, items, queued, gen)
    if ctx.final == "failed":
        items.append(Item("failure", start, start + 0.5, deltas=0))
        items.append(Item("error", start + 0.5))
        end = start + 0.5
    elif ctx.final == "requires_action" and not ctx.plan_turn:
        ctx.calls = _function_calls(spec, ctx)
        for n, (_, _, arguments) in enumerate(ctx.calls):  # parallel calls: one step each
            chunks = len(tl.argument_chunks(arguments))
            items.append(Item("call", start + 0.5 * n, start + 0.5 * (n + 1), deltas=chunks, arg=n))  # fmt: skip
        end = start + 0.5 * len(ctx.calls)
    if ctx.final not in STALLED:
        # every status change is announced, the last one just before the completion event
        items.append(Item("settled", end + 0.1))
        items.append(Item("completed", end + 0.1))
    return Script(spec, items, ctx)


def _research(spec: Spec, ctx: Context, rng: random.Random, items: list[Item], t: float, gen: dict[str, Any]) -> tuple[float, float]:  # fmt: skip
    if spec.plan is not None and spec.plan.stage == "propose":
        return _plan_turn(spec, ctx, rng, items, t)
    total = rng.uniform(300.0, 1500.0)
    ctx.thoughts = max(2, int(total / 40))
    count = 0
    while t < total * 0.88:
        gap = rng.uniform(20.0, 60.0)
        items.append(Item("thought", t, t + gap * 0.5, deltas=2 if ctx.show else 1, arg=count))
        if count % 3 == 1:
            mid = t + gap * 0.7
            items.append(Item("search_call", t + gap * 0.5, mid, deltas=1, arg=count))
            items.append(Item("search_result", mid, t + gap * 0.9, deltas=1, arg=count))
            ctx.searches += 1
        t += gap
        count += 1
    ctx.minutes = round(total / 60)
    end = max(total, t + 30.0)
    start = max(t, end * 0.9)
    _decide(spec, ctx, spec.outcome)
    if ctx.final not in ("failed", "requires_action") and ctx.final not in STALLED:
        size = spec.output_bytes
        ctx.text = _structured(spec, ctx, c.read_prompt(spec.input))
        chunks = OUTPUT_CHUNKS if size is None else _chunks(size)
        if ctx.text is not None:
            chunks = _chunks(len(ctx.text))
        if chunks:
            ctx.annotate = size is None and ctx.text is None  # the report's [n] become citations
            items.append(Item("output", start, end, deltas=chunks + ctx.annotate))
    return start, end


def _plan_turn(spec: Spec, ctx: Context, rng: random.Random, items: list[Item], t: float) -> tuple[float, float]:  # fmt: skip
    """A collaborative-planning turn: two thoughts, then the plan (planning.py)."""
    assert spec.plan is not None
    ctx.plan_turn = True
    for n in range(2):
        gap = rng.uniform(20.0, 45.0)
        items.append(Item("thought", t, t + gap * 0.8, deltas=2 if ctx.show else 1, arg=n))
        t += gap
    _decide(spec, ctx, spec.outcome or spec.plan.ends)
    end = t + 15.0
    if ctx.final in ("completed", "requires_action"):
        ctx.text = planning.plan_text(spec.plan)
        items.append(Item("output", t, end, deltas=_chunks(len(ctx.text))))
    return t, end


def _model(spec: Spec, ctx: Context, rng: random.Random, items: list[Item], queued: float, gen: dict[str, Any]) -> tuple[float, float]:  # fmt: skip
    prompt = c.read_prompt(spec.input)
    think = rng.uniform(1.0, 3.0) * THINKING.get(gen.get("thinking_level", "medium"), 1.0)
    tools = spec.tools or []
    searching = "google_search" in tl.declared_types(tools)
    builtins = tl.builtin_tools(tools)
    text = _continuation(spec.continues) if spec.continues else _model_text(spec, ctx, prompt)
    outcome = spec.outcome
    if outcome is None and _called_function(spec, prompt):
        outcome = "requires_action"
    _decide(spec, ctx, outcome)
    if ctx.final not in ("completed", "failed", "requires_action") and ctx.final not in STALLED:
        text = text[: max(1, len(text) // 2)]
    if spec.output_bytes is not None:
        text = c.filler(spec.output_bytes, ctx.seed)
    limit = gen.get("max_output_tokens")
    if isinstance(limit, int) and limit >= 0 and c.tokens(text) > limit:
        text, ctx.final = text[: limit * 4], "incomplete"
    ctx.text = text
    work = think + (1.5 if searching else 0.0) + 0.6 * len(builtins)
    work += c.tokens(text) / rng.uniform(40.0, 120.0)
    # the queue time is kept; the work is scaled to make 3 to 15 simulated seconds in all
    scale = (min(max(queued + work, 3.0), 15.0) - queued) / max(work, 1e-9)
    t = queued
    if think:
        items.append(Item("thought", t + 0.1 * scale, t + think * scale, deltas=2 if ctx.show else 1, arg=0))  # fmt: skip
        t += think * scale
    if searching:
        mid = t + 0.75 * scale
        items.append(Item("search_call", t, mid, deltas=1, arg=0))
        items.append(Item("search_result", mid, t + 1.5 * scale, deltas=1, arg=0))
        ctx.searches += 1
        t += 1.5 * scale
    for n, _tool in enumerate(builtins):  # each declared built-in tool: its call, then its result
        items.append(Item("tool_call", t, t + 0.3 * scale, deltas=1, arg=n))
        items.append(Item("tool_result", t + 0.3 * scale, t + 0.6 * scale, deltas=1, arg=n))
        t += 0.6 * scale
    end = max(queued + work * scale, t + 0.5)
    if ctx.final not in ("failed", "requires_action") and ctx.final not in STALLED and text:
        grounded = tl.declared_types(tools) & tl.GROUNDING
        ctx.annotate = bool(grounded) and spec.output_bytes is None
        items.append(Item("output", t, end, deltas=_chunks(len(text)) + ctx.annotate))
    return t, end


def _chunks(length: int) -> int:
    """How many text deltas carry an output of this length (about 48 characters or more each)."""
    return math.ceil(length / max(48, math.ceil(length / 40))) if length else 0


def _decide(spec: Spec, ctx: Context, outcome: str | None) -> None:
    """The final status, errors and continuation token for a forced or natural outcome.

    incomplete, budget_exceeded, cancelled, requires_continuation or an unknown status stop the
    output about half way; failed replaces it with an error; requires_action calls a function.
    """
    ctx.final = outcome or "completed"
    if outcome == "failed":
        ctx.errors = [
            {
                "code": "https://emulator.example/errors/internal",
                "message": "The backend failed while generating the response (injected fault).",
            }
        ]
    elif outcome == "requires_continuation":
        ctx.token = f"ct_{spec.id}_{ctx.seed % 10**6:06d}"


def _continuation(previous: Spec) -> str:
    """The rest of the answer a `requires_continuation` interaction stopped half way through."""
    whole = build_script(replace(previous, outcome=None))
    text = whole.ctx.text or ""
    return text[max(1, len(text) // 2) :]


def _structured(spec: Spec, ctx: Context, prompt: c.Prompt) -> str | None:
    """The JSON reply a response_format schema asks for (broken by a schema_violation fault)."""
    wanted, schema = schemas.schema_of(spec.response_format, spec.response_mime_type)
    if not wanted or spec.output_bytes is not None:
        return None
    return schemas.answer(schema, prompt.text, ctx.seed + 1, spec.violate)


def _model_text(spec: Spec, ctx: Context, prompt: c.Prompt) -> str:
    structured = _structured(spec, ctx, prompt)
    if structured is not None:
        return structured
    loop = spec.loop
    described = [a.describe(n) for n, a in enumerate(spec.attachments, 1)]
    if loop is not None and loop.results:  # the last round's results are in: answer the task
        prompt = c.Prompt(text=loop.task, function_results=list(loop.results))
        described = described or list(loop.material)  # what the task came with, turns ago
    material = " ".join(f"I read the attached {line}." for line in described)
    return c.model_answer(random.Random(ctx.seed + 1), prompt, spec.system_instruction, spec.history, material)  # fmt: skip


def _tool_choice(spec: Spec) -> object:
    gen = spec.generation_config if isinstance(spec.generation_config, dict) else {}
    return gen.get("tool_choice")


def _called_function(spec: Spec, prompt: c.Prompt) -> bool:
    """Whether this turn asks for function calls: a round of its loop is due and a declared
    function fits the task (or tool_choice forces one); without a loop, when the prompt names a
    function or hints at one and no function result came back yet."""
    if spec.loop is not None:
        return bool(rounds.calls_for(spec.loop, spec.tools, _tool_choice(spec)))
    if prompt.function_results:
        return False
    return tl.choose_function(spec.tools, prompt.text, _tool_choice(spec)) is not None


def _function_calls(spec: Spec, ctx: Context) -> list[tuple[str, str, dict[str, object]]]:
    """(id, name, schema-valid arguments) of every call a requires_action turn makes."""
    base = f"call_{ctx.seed % 10**10:010d}"
    if spec.loop is not None and (chosen := rounds.calls_for(spec.loop, spec.tools, _tool_choice(spec))):  # fmt: skip
        task, seed = spec.loop.task, ctx.seed + 101 * (spec.loop.round - 1)
        return [(base if n == 0 else f"{base}_{n}", tool["name"], tl.function_arguments(tool, task, seed + n)) for n, tool in enumerate(chosen)]  # fmt: skip
    prompt = c.read_prompt(spec.input).text
    tool = tl.choose_function(spec.tools, prompt, _tool_choice(spec))
    if tool is None:
        declared = tl.functions(spec.tools)
        tool = declared[0] if declared else {"name": "lookup", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}  # fmt: skip
    return [(base, tool["name"], tl.function_arguments(tool, prompt, ctx.seed))]
