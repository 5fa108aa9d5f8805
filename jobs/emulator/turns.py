"""Turns of a conversation: function results and research plans checked, then counted.

A create with `previous_interaction_id` continues a turn. When that turn asked for function calls
(`requires_action` with `function_call` steps), the continuation must carry one `function_result`
for every call id it made and none other: a result for an unknown or stale call id, a call left
unanswered, or results sent to a turn that asked for none are refused with 400 INVALID_ARGUMENT
(the `stale_call` fault refuses a correct answer the same way). Answering the same calls again, by
chaining another turn on the same interaction, is a branch the API allows; it is counted
(`calls_answered_twice`) so a test can prove a runner never does it. A turn after a research plan
is decided by planning.py; the `plan_expiry` fault refuses it once the plan is too old.

`stats()` counts continuations per interaction (`creates_by_previous`: a runner makes exactly one
per turn), function calls asked and answered, refusals and plans.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobs.emulator import content as c
from jobs.emulator import planning, rounds
from jobs.emulator.errors import EmulatorError, invalid_argument

DEFAULTS: dict[str, Any] = {
    "function_rounds": 1,
    "parallel_calls": True,
    "plan_status": "completed",
}
KNOBS = frozenset(DEFAULTS)


@dataclass(frozen=True)
class Turn:
    """What a new turn carries into its spec, and the call ids it answers."""

    loop: rounds.Loop | None = None
    plan: planning.Plan | None = None
    answered: tuple[str, ...] = ()


class Turns:
    """Knobs, checks and counters of conversation turns; thread-safe."""

    def __init__(self, faults: Any) -> None:
        self.faults = faults
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.knobs = dict(DEFAULTS)
            self._by_previous: Counter[str] = Counter()
            self._answered: Counter[str] = Counter()
            self._counts: Counter[str] = Counter()

    @staticmethod
    def validated(knobs: Mapping[str, Any]) -> dict[str, Any]:
        """The knobs given, checked (ValueError); null puts one back to its default."""
        out: dict[str, Any] = {}
        for name, value in knobs.items():
            if value is None:
                out[name] = DEFAULTS[name]
            elif name == "function_rounds" and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= rounds.MAX_ROUNDS  # fmt: skip
            ):
                raise ValueError(f"function_rounds must be a whole number from 1 to {rounds.MAX_ROUNDS}, got {value!r}")  # fmt: skip
            elif name == "parallel_calls" and not isinstance(value, bool):
                raise ValueError(f"parallel_calls must be true or false, got {value!r}")
            elif name == "plan_status" and value not in planning.PLAN_ENDS:
                raise ValueError(f"plan_status must be one of {', '.join(planning.PLAN_ENDS)}, got {value!r}")  # fmt: skip
            else:
                out[name] = value
        return out

    def apply(self, knobs: Mapping[str, Any]) -> None:
        with self._lock:
            self.knobs.update(knobs)

    def config(self) -> dict[str, Any]:
        return dict(self.knobs)

    def prepare(
        self,
        body: dict[str, Any],
        prev: Any,
        scripts: Any,
        now: datetime,
        material: tuple[str, ...] = (),
    ) -> Turn:
        """Check a create against the turn it continues (`prev`, a Record, or None) and say what
        the new turn carries (`material`: its attachments, described, which a function loop's
        answer names). Raises the 400s (and the plan-expiry refusal) described above."""
        text = c.read_prompt(body.get("input")).text
        results = [s for s in _steps(body.get("input")) if s.get("type") == "function_result"]
        plan_ends, tools = self.knobs["plan_status"], body.get("tools")
        fresh = rounds.start(tools, text, self.knobs["function_rounds"], self.knobs["parallel_calls"], material)  # fmt: skip
        if prev is None:
            return Turn(None if results else fresh, planning.start(body, text, plan_ends))
        script = scripts.get(prev.spec)
        calls = [call_id for call_id, _, _ in script.ctx.calls or []]
        status = prev.render(scripts, now)["status"]
        if results or (status == "requires_action" and calls):
            answered = self._check_results(prev.spec.id, status, calls, results)
            loop = prev.spec.loop
            lines = c.read_prompt(body.get("input")).function_results
            return Turn(rounds.advance(loop, lines) if loop else None, answered=answered)
        previous_plan = prev.spec.plan
        if previous_plan is not None and previous_plan.stage == "propose":
            self._check_expiry(prev, now)
            return Turn(fresh, planning.follow(previous_plan, body, text, plan_ends))
        return Turn(fresh, planning.start(body, text, plan_ends))

    def created(self, previous_id: str | None, turn: Turn, spec: Any, script: Any) -> None:
        """Count a create that took effect."""
        with self._lock:
            if previous_id is not None:
                self._by_previous[previous_id] += 1
                self._counts["continuations"] += 1
            for call_id in turn.answered:
                self._answered[call_id] += 1
            self._counts["function_results"] += len(turn.answered)
            self._counts["function_calls"] += len(script.ctx.calls or [])
            plan = spec.plan
            if plan is not None:
                stage = "proposed" if plan.stage == "propose" and not plan.amendments else "revised"
                self._counts[f"plans_{'executed' if plan.stage == 'execute' else stage}"] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = self._counts
            return {
                "continuations": counts["continuations"],
                "creates_by_previous": dict(self._by_previous),
                "function_calls": counts["function_calls"],
                "function_results": counts["function_results"],
                "calls_answered_twice": sum(1 for n in self._answered.values() if n > 1),
                "refused": counts["refused"],
                "plans": {
                    k: counts[f"plans_{k}"] for k in ("proposed", "revised", "executed", "expired")
                },
            }

    # --- checks -------------------------------------------------------------------------------------

    def _refuse(self, error: EmulatorError) -> EmulatorError:
        with self._lock:
            self._counts["refused"] += 1
        return error

    def _check_results(self, prev_id: str, status: str, calls: list[str], results: list[dict[str, Any]]) -> tuple[str, ...]:  # fmt: skip
        if status != "requires_action" or not calls:
            raise self._refuse(invalid_argument(
                f"Interaction '{prev_id}' is not waiting for function results (it is {status}).",
                field="input",
            ))  # fmt: skip
        given = [str(r.get("call_id", "")) for r in results]
        twice = sorted({i for i in given if given.count(i) > 1})
        unknown = [i for i in dict.fromkeys(given) if i not in calls]
        missing = [i for i in calls if i not in given]
        problems = []
        if unknown:
            problems.append(f"unknown or stale call id(s): {', '.join(unknown)}")
        if missing:
            problems.append(f"no result for call id(s): {', '.join(missing)}")
        if twice:
            problems.append(f"more than one result for call id(s): {', '.join(twice)}")
        if not problems and self.faults.take("stale_call", "create") is not None:
            problems.append(f"unknown or stale call id(s): {given[0]}")
        if problems:
            message = f"Function results do not match the calls of interaction '{prev_id}': "
            raise self._refuse(invalid_argument(message + "; ".join(problems) + ".", field="input"))  # fmt: skip
        return tuple(given)

    def _check_expiry(self, prev: Any, now: datetime) -> None:
        age = (now - prev.t0).total_seconds() * prev.speed
        rule = self.faults.take("plan_expiry", "create", match=lambda r: age >= float(r.seconds or 0))  # fmt: skip
        if rule is None:
            return
        with self._lock:
            self._counts["plans_expired"] += 1
        if rule.status == 404:
            raise self._refuse(EmulatorError(404, "NOT_FOUND", f"previous_interaction_id: Interaction '{prev.spec.id}' was not found."))  # fmt: skip
        raise self._refuse(EmulatorError(400, "FAILED_PRECONDITION", f"The research plan of interaction '{prev.spec.id}' has expired; start a new plan."))  # fmt: skip


def _steps(value: Any) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    return [item for item in items if isinstance(item, dict)]
