"""One stored interaction, and the cache of the scripts that drive them.

A `Record` keeps only what cannot be rebuilt: the spec, the real moment it was created, the speed
it runs at, the offsets of its milestones (the events that change what a GET shows; a compact
array, counted with bisect) and, once cancelled, the events that ended it. Its script is rebuilt
from the spec when the `ScriptCache` has dropped it; the resource it shows is cached until the next
milestone, and a status-only milestone (queued -> in_progress) is applied without the script, so
polling ten thousand running interactions rarely rebuilds one.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from jobs.emulator import script as sc
from jobs.emulator.fold import Folded, fold
from jobs.emulator.plan import build_script


def timestamp(moment: datetime) -> str:
    """The API's time format: YYYY-MM-DDThh:mm:ssZ."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ScriptCache:
    """The most recently used scripts; any other is rebuilt from its spec (deterministically)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._scripts: OrderedDict[str, sc.Script] = OrderedDict()

    def put(self, interaction_id: str, script: sc.Script) -> None:
        self._scripts[interaction_id] = script
        self._scripts.move_to_end(interaction_id)
        if len(self._scripts) > self.size:
            self._scripts.popitem(last=False)

    def get(self, spec: sc.Spec) -> sc.Script:
        script = self._scripts.get(spec.id)
        if script is None:
            script = build_script(spec)
        self.put(spec.id, script)
        return script

    def drop(self, interaction_id: str) -> None:
        self._scripts.pop(interaction_id, None)

    def __len__(self) -> int:
        return len(self._scripts)


class Record:
    """One interaction: its spec, when it started, and how far it may go. Small on purpose."""

    __slots__ = (
        "spec", "t0", "speed", "inline", "labels", "echo", "marks", "status_only", "end",
        "cancel_at", "cancel_k", "tail", "view", "state", "created", "live_usage",
    )  # fmt: skip

    def __init__(
        self,
        spec: sc.Spec,
        t0: datetime,
        speed: float,
        echo: dict[str, Any],
        script: sc.Script,
    ) -> None:
        self.spec = spec
        self.t0 = t0
        self.speed = speed
        self.inline = not spec.background  # answered complete, at once
        self.echo = echo
        self.live_usage = False  # report usage so far while running (backend knob `live_usage`)
        self.labels: dict[str, str] = echo.get("labels") or {}
        self.marks = script.marks
        self.status_only = script.status_only
        self.end = script.end
        self.cancel_at: float | None = None
        self.cancel_k = 0  # script events that had happened when it was cancelled
        self.tail: list[dict[str, Any]] = []  # the events that ended it early
        self.view: tuple[int, dict[str, Any]] | None = None  # (milestones seen, resource)
        self.state: tuple[int, Folded] | None = None  # (events folded, their fold) while running
        self.created = timestamp(t0)

    def elapsed(self, now: datetime) -> float:
        """Simulated seconds since creation (an inline interaction is over at once)."""
        if self.inline:
            return math.inf
        return (now - self.t0).total_seconds() * self.speed

    def visible(self, script: sc.Script, now: datetime) -> int:
        """How many script events have happened by `now`."""
        if self.cancel_at is not None:
            return self.cancel_k
        return bisect_right(script.offsets, self.elapsed(now))

    def milestones(self, now: datetime) -> int:
        """How many milestones have happened by `now` (the key of the cached view)."""
        limit = self.elapsed(now) if self.cancel_at is None else self.cancel_at
        return bisect_right(self.marks, limit)

    def is_over(self, now: datetime) -> bool:
        return self.cancel_at is not None or self.elapsed(now) >= self.end

    def at(self, offset: float) -> datetime:
        """The real moment of a simulated offset."""
        if self.inline or math.isinf(offset):
            return self.t0
        return self.t0 + timedelta(seconds=offset / self.speed)

    def end_early(self, script: sc.Script, now: datetime, tail: list[dict[str, Any]]) -> None:
        """Freeze the timeline now and append the events that end it (cancel)."""
        self.cancel_k = self.visible(script, now)
        self.cancel_at = self.elapsed(now)
        self.tail = tail
        self.view = self.state = None

    def stamped(self, script: sc.Script, start: int, k: int) -> list[dict[str, Any]]:
        """Events from position `start` on, of the first `k` script events and the tail."""
        made = script.payloads(start, k)
        events = [self.stamp(script, start + j, p) for j, p in enumerate(made)]
        events += [self.stamp(script, k + j, p) for j, p in enumerate(self.tail) if k + j >= start]
        return events

    def stamp(self, script: sc.Script, i: int, payload: dict[str, Any]) -> dict[str, Any]:
        """Event `i` as sent: with its event_id, and times on the interaction it carries."""
        event = dict(payload)
        if "interaction" in event:
            cancelled = self.cancel_at is not None and i >= self.cancel_k
            offset = self.cancel_at if cancelled else script.offsets[i]
            event["interaction"] = {
                **event["interaction"],
                "created": self.created,
                "updated": timestamp(self.at(offset)),
            }
        event["event_id"] = f"evt_{i + 1:04d}"
        return event

    def render(self, scripts: ScriptCache, now: datetime) -> dict[str, Any]:
        """The resource without input steps; cached until the next milestone."""
        m = self.milestones(now)
        key = m + len(self.tail)
        if self.view is not None:
            seen, view = self.view
            if seen == key:
                return view
            if not self.tail and 0 < seen < m and all(self.status_only[seen:m]):
                updated = timestamp(self.at(self.marks[m - 1]))
                view = {**view, "status": "in_progress", "updated": updated}
                self.view = (key, view)
                return view
        script = scripts.get(self.spec)
        k = self.visible(script, now)
        if self.tail:
            state = fold(script.payloads(0, k) + self.tail)
        elif self.state is not None and self.state[0] <= k:  # fold only what is new
            state = fold(script.payloads(self.state[0], k), self.state[1])
        else:
            state = fold(script.payloads(0, k))
        over = self.is_over(now)
        self.state = None if over or self.tail else (k, state)
        last = self.marks[m - 1] if m and not self.tail else (self.cancel_at or 0.0)
        head = self.spec.head
        view: dict[str, Any] = {
            "id": head["id"],
            "object": "interaction",
            "status": state.status,
            **{key: head[key] for key in ("model", "agent") if key in head},
            "created": self.created,
            "updated": timestamp(self.at(last)),
            **self.echo,
            # while it runs, a GET shows the steps that are complete
            "steps": list(state.steps) if over else state.closed_steps(),
        }
        if over and state.usage is not None:
            view["usage"] = state.usage
        elif not over and self.live_usage:
            # What the steps finished so far used (input counted from the start): the real API's
            # behaviour here is unknown (interactions-api.md 3.5), so it is a knob.
            view["usage"] = sc.usage_for(
                self.spec, state.output, state.thought, state.tool_use, state.searches
            )
        if state.errors:
            view["errors"] = list(state.errors)
        if state.continuation_token:
            view["continuation_token"] = state.continuation_token
        self.view = (key, view)
        return view
