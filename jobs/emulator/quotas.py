"""Quotas per model and per agent: creates per time window, and concurrent runs.

Gemini's limits are per model and per agent (Deep Research has its own requests-per-minute quota).
A `Limit` holds, for one model or agent name (or `*`, every name without its own), any number of
rates ("5/min", "100/day": accepted creates in a sliding window of emulated time) and a cap on the
interactions of that name that are running (created and not yet ended). A create that would go over
is answered 429 RESOURCE_EXHAUSTED before it takes effect, with a retry delay that is truthful:
the moment the oldest create leaves the window (or, for the cap, the moment enough running
interactions will have ended), so a retry after it succeeds unless something else came in. The
delay is in real seconds (the `Retry-After` header and `google.rpc.RetryInfo.retryDelay`), rounded
up to the millisecond. Refused creates consume nothing.

Counting is on the emulator's time line (emulated_time.py): at `--speed 600`, "5/min" allows five
creates per 0.1 real seconds. A trigger's firing counts like a create; one that finds no room fails
its execution instead of being answered 429. Counters per name: `creates` (accepted), `answered_429`
(refused by a quota), `fired` / `fired_refused` (the same for trigger firings), `running` and
`last_minute` (creates in the last emulated minute).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobs.emulator.emulated_time import EmulatedTime
from jobs.emulator.errors import EmulatorError, format_seconds

UNITS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "day": 86400, "d": 86400}
UNIT_NAMES = {1: "s", 60: "min", 3600: "h", 86400: "day"}
KEYS = {"per_second": 1, "per_minute": 60, "per_hour": 3600, "per_day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
HELP = "https://ai.google.dev/gemini-api/docs/rate-limits"


@dataclass(frozen=True)
class Limit:
    """The quota of one model or agent: (creates, window seconds) pairs and a running cap."""

    rates: tuple[tuple[int, int], ...] = ()
    concurrent: int | None = None

    def text(self) -> str:
        """The limit in the flag's own form: "5/min,2"."""
        parts = [f"{n}/{UNIT_NAMES[w]}" for n, w in self.rates]
        if self.concurrent is not None:
            parts.append(str(self.concurrent))
        return ",".join(parts)


def parse_limit(value: Any) -> Limit:
    """A limit from "5/min,100/day,2" (rates, then/or a bare running cap) or from an object
    {"per_minute": 5, "per_day": 100, "concurrent": 2}. ValueError when it is neither."""
    rates: dict[int, int] = {}
    concurrent = None
    if isinstance(value, str):
        for part in (p for p in value.split(",") if p.strip()):
            match = _RATE.match(part)
            if match:
                unit = match.group(2)
                if unit not in UNITS:
                    raise ValueError(f"unknown unit {unit!r} in {part.strip()!r} (s, min, h, day)")
                rates[UNITS[unit]] = int(match.group(1))
            elif part.strip().isdigit():
                concurrent = int(part)
            else:
                raise ValueError(
                    f"bad quota part {part.strip()!r}: expected N/min (or /s, /h, /day) "
                    "or N (concurrent runs)"
                )
    elif isinstance(value, dict):
        for key, number in value.items():
            if key not in (*KEYS, "concurrent"):
                raise ValueError(f"unknown quota field {key!r} ({', '.join(KEYS)} or concurrent)")
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise ValueError(f"quota {key} must be a whole number >= 0, got {number!r}")
            if key == "concurrent":
                concurrent = number
            else:
                rates[KEYS[key]] = number
    else:
        raise ValueError(f"a quota is a string like '5/min,2' or an object, got {value!r}")
    if not rates and concurrent is None:
        raise ValueError(f"quota {value!r} sets no limit")
    return Limit(tuple((count, window) for window, count in sorted(rates.items())), concurrent)


def parse_limits(limits: Any) -> dict[str, Limit]:
    """Every quota from {name: "5/min,2" | {...}} ({} sets none); ValueError naming the bad one."""
    if not isinstance(limits, dict):
        raise ValueError(f"quotas must be an object of name -> limit, got {limits!r}")
    parsed = {}
    for name, value in limits.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"a quota needs a model or agent name, got {name!r}")
        try:
            parsed[name] = parse_limit(value)
        except ValueError as exc:
            raise ValueError(f"quota of {name}: {exc}") from None
    return parsed


@dataclass
class _Usage:
    kind: str  # "model" or "agent"
    accepted: deque[datetime] = field(default_factory=deque)  # emulated moments, oldest first
    running: dict[str, datetime | None] = field(
        default_factory=dict
    )  # id -> real end (None: never)
    counts: dict[str, int] = field(
        default_factory=lambda: {"creates": 0, "answered_429": 0, "fired": 0, "fired_refused": 0}
    )


class QuotaBook:
    """Limits and usage per model/agent name. Not locked: the backend calls it under its lock."""

    def __init__(self, time: EmulatedTime) -> None:
        self.time = time
        self.reset()

    def reset(self) -> None:
        self.limits: dict[str, Limit] = {}
        self._usage: dict[str, _Usage] = {}
        self._tracked: dict[str, str] = {}  # running interaction id -> name
        self._since_prune = 0

    def limit_for(self, name: str) -> Limit | None:
        return self.limits.get(name) or self.limits.get("*")

    def _of(self, name: str, kind: str) -> _Usage:
        usage = self._usage.get(name)
        if usage is None:
            usage = self._usage[name] = _Usage(kind)
        return usage

    # --- a create ----------------------------------------------------------------------------------

    def admit(self, name: str, kind: str, now: datetime, *, fired: bool = False) -> None:
        """Raise 429 if a create of `name` (a `kind`: model or agent) at the real moment `now`
        would go over its quota; the create is not counted (see `started`)."""
        limit = self.limit_for(name)
        if limit is None:
            return
        usage = self._of(name, kind)
        emulated = self.time.to_emulated(now)
        self._trim(usage, emulated, limit)
        waits: list[float] = []  # real seconds until each exceeded limit has room again
        exceeded: list[tuple[str, int]] = []
        for count, window in limit.rates:
            in_window = len(usage.accepted) - bisect_right(
                usage.accepted, emulated - timedelta(seconds=window)
            )
            if in_window < count:
                continue
            exceeded.append((UNIT_NAMES[window], count))
            if count == 0:
                waits.append(math.inf)
                continue
            # room again once the create that keeps the window full has left it
            leaves = usage.accepted[len(usage.accepted) - count] + timedelta(seconds=window)
            waits.append(self.time.real_seconds((leaves - emulated).total_seconds(), now))
        if limit.concurrent is not None:
            self._prune(usage, now)
            over = len(usage.running) - limit.concurrent
            if over >= 0:
                exceeded.append(("concurrent", limit.concurrent))
                # room again once `over + 1` of the running ones have ended
                ends = sorted(end for end in usage.running.values() if end is not None)
                waits.append((ends[over] - now).total_seconds() if over < len(ends) else math.inf)
        if not exceeded:
            return
        usage.counts["fired_refused" if fired else "answered_429"] += 1
        raise _exhausted(name, kind, exceeded, max(waits))

    def started(
        self,
        name: str,
        kind: str,
        interaction_id: str,
        now: datetime,
        ends: datetime | None,
        *,
        fired: bool = False,
    ) -> None:
        """Count an accepted create (`ends`: the real moment it will end, None: never)."""
        usage = self._of(name, kind)
        usage.counts["fired" if fired else "creates"] += 1
        emulated = self.time.to_emulated(now)
        usage.accepted.append(emulated)
        self._trim(usage, emulated, self.limit_for(name))
        if ends is None or ends > now:
            usage.running[interaction_id] = ends
            self._tracked[interaction_id] = name
        self._since_prune += 1
        if self._since_prune >= 1024:  # names nobody limits are pruned now and then
            self._since_prune = 0
            for other in self._usage.values():
                self._prune(other, now)

    def ended(self, interaction_id: str) -> None:
        """An interaction ended early (cancelled, deleted, forgotten): it runs no more."""
        name = self._tracked.pop(interaction_id, None)
        if name is not None:
            self._usage[name].running.pop(interaction_id, None)

    @staticmethod
    def _trim(usage: _Usage, emulated: datetime, limit: Limit | None) -> None:
        """Forget accepted creates older than every window that could count them (and a minute,
        for the `last_minute` counter)."""
        longest = max([60, *(window for _, window in (limit.rates if limit else ()))])
        horizon = emulated - timedelta(seconds=longest)
        while usage.accepted and usage.accepted[0] <= horizon:
            usage.accepted.popleft()

    def _prune(self, usage: _Usage, now: datetime) -> None:
        done = [i for i, end in usage.running.items() if end is not None and end <= now]
        for interaction_id in done:
            del usage.running[interaction_id]
            self._tracked.pop(interaction_id, None)

    def stats(self, now: datetime) -> dict[str, Any]:
        """Limits (as flag text) and, per name seen, counters, running and last_minute."""
        minute_ago = self.time.to_emulated(now) - timedelta(seconds=60)
        by_name = {}
        for name, usage in sorted(self._usage.items()):
            self._prune(usage, now)
            by_name[name] = {
                **usage.counts,
                "running": len(usage.running),
                "last_minute": len(usage.accepted) - bisect_right(usage.accepted, minute_ago),
            }
        return {"limits": {n: lim.text() for n, lim in self.limits.items()}, "by_name": by_name}


def retry_delay(seconds: float) -> float:
    """A delay the header and the body can say exactly, never too early: rounded UP to the
    millisecond with a few microseconds to spare (clocks count in microseconds)."""
    if math.isinf(seconds):
        return 60.0  # no room will come by itself (a cap of 0, runs that never end): a minute
    return math.ceil((max(0.0, seconds) + 1e-5) * 1000) / 1000


def _exhausted(name: str, kind: str, exceeded: list[tuple[str, int]], wait: float) -> EmulatorError:
    """The 429 a Google front end gives, with the quota that was hit and when to come back."""
    delay = retry_delay(wait)
    violations, lines = [], []
    for what, value in exceeded:
        if what == "concurrent":
            metric = "generativelanguage.googleapis.com/concurrent_interactions"
            quota_id = f"ConcurrentInteractionsPerProjectPer{kind.capitalize()}"
        else:
            unit = {"s": "Second", "min": "Minute", "h": "Hour", "day": "Day"}[what]
            metric = "generativelanguage.googleapis.com/interaction_requests"
            quota_id = f"InteractionRequestsPer{unit}PerProjectPer{kind.capitalize()}"
        violations.append(
            {
                "quotaMetric": metric,
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", kind: name},
                "quotaValue": str(value),
            }
        )
        lines.append(f"* Quota exceeded for metric: {metric}, limit: {value}, {kind}: {name}")
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        f"For more information on this error, head to: {HELP}.\n"
        + "\n".join(lines)
        + f"\nPlease retry in {format_seconds(delay)}s."
    )
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations},
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": HELP}],
        },
    ]
    return EmulatorError(429, "RESOURCE_EXHAUSTED", message, details, retry_after=delay)
