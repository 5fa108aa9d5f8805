"""Function calls over several rounds: which functions a turn calls, and when the answer comes.

A model turn with function tools declared starts a loop: its task is the prompt, and it asks for
calls (`requires_action`) for `rounds` rounds before it answers (the `function_rounds` knob, 1 by
default, or a marker in the prompt such as `[rounds=3]`). Each round calls, in parallel, every
declared function the task names or hints at (`parallel_calls` false: one of them per round, in
turn). When the results of the last round come back, the answer quotes every round's results, so
a test can see each one arrived. The loop lives in the interaction's spec, so a rebuilt script
calls the same functions with the same arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from jobs.emulator import tools as tl

MARKER = re.compile(r"\[rounds?\s*[=:]\s*(\d{1,2})\]", re.IGNORECASE)
MAX_ROUNDS = 50


@dataclass(frozen=True)
class Loop:
    """Where a conversation is in its function-call rounds."""

    task: str  # the prompt that started it
    rounds: int  # rounds of calls before the answer
    round: int = 1  # the round this turn calls for (past `rounds`: this turn answers)
    parallel: bool = True
    results: tuple[str, ...] = ()  # "get_weather returned {...}" for every result so far
    material: tuple[str, ...] = ()  # the attachments the task came with, for the answer to name


def start(
    tools: Any, task: str, rounds: int, parallel: bool, material: tuple[str, ...] = ()
) -> Loop | None:
    """The loop a turn with function tools starts (None without any)."""
    if not tl.functions(tools):
        return None
    marked = MARKER.search(task)
    if marked is not None:
        rounds = max(1, min(MAX_ROUNDS, int(marked.group(1))))
    return Loop(task=task, rounds=rounds, parallel=parallel, material=material)


def calls_for(loop: Loop, tools: Any, tool_choice: Any) -> list[dict[str, Any]]:
    """The function declarations this round calls (none once the rounds are done)."""
    if loop.round > loop.rounds:
        return []
    chosen = tl.choose_functions(tools, loop.task, tool_choice)
    if not loop.parallel and chosen:
        return [chosen[(loop.round - 1) % len(chosen)]]
    return chosen


def advance(loop: Loop, results: list[str]) -> Loop:
    """The loop after one round's results came back."""
    if loop.rounds > 1:
        results = [f"round {loop.round}: {r}" for r in results]
    return replace(loop, round=loop.round + 1, results=(*loop.results, *results))
