"""Budgets: a ceiling in tokens and/or dollars on a job, a batch or a schedule's firing.

A job's budget is enforced by the worker: `Budgets.enforce(now)` is the one call a pass makes. It
looks at every running job whose budget has not tripped, at the usage seen so far (the latest a
poll reported, recorded in job_usage, and the usage streamed into the event journal of issue 9 when
that table exists), and when a ceiling is passed it trips the budget (once, compare-and-set) and
records a cancel request; the pass's poll step then sends the one remote cancel, exactly as a
user's `jobs cancel` would. Nothing is held in memory: a restarted worker carries on from the
store (tripped but still running jobs are asked to stop again).

Batches and schedules (issue 11) call `batch_allows(batch_id, job_ids)` /
`schedule_allows(schedule_id, job_ids)` before submitting another line or firing: False once what
those jobs used reaches the ceiling (the budget then records that it tripped, and why).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobs.errors import UsageError
from jobs.service.prices import PriceTable

log = logging.getLogger(__name__)

KINDS = ("job", "batch", "schedule")
_BUDGET = re.compile(
    r"^\s*(?:\$\s*(?P<usd1>\d+(?:\.\d+)?)|(?P<usd2>\d+(?:\.\d+)?)\s*(?:usd|\$)"
    r"|(?P<tok>\d+(?:\.\d+)?)\s*(?P<unit>[km]?)\s*(?:tok|tokens?)?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Ceiling:
    max_tokens: int | None = None
    max_cost_usd: float | None = None


def parse_budget(values: Iterable[str]) -> Ceiling:
    """`--budget 50k` (tokens), `--budget 200000tokens`, `--budget $1.50` or `1.5usd`; give both
    kinds by repeating the option."""
    tokens: int | None = None
    cost: float | None = None
    for value in values:
        match = _BUDGET.match(value)
        if not match:
            raise UsageError(
                f"bad budget {value!r}: use tokens (50000, 50k, 2m) or dollars ($1.50, 1.5usd)"
            )
        if match.group("tok") is not None:
            scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group("unit").lower()]
            tokens = int(float(match.group("tok")) * scale)
            if tokens <= 0:
                raise UsageError(f"bad budget {value!r}: it must be more than zero")
        else:
            cost = float(match.group("usd1") or match.group("usd2"))
            if cost <= 0:
                raise UsageError(f"bad budget {value!r}: it must be more than zero")
    return Ceiling(tokens, cost)


def streamed_usage(payloads: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The usage that streamed events report so far, as an API usage object.

    Whole-interaction figures come with interaction.created/status_update/completed (`usage`) and
    step.delta (`metadata.total_usage`); step.stop carries the step's own (`step_usage`), which
    add up. The larger of the two views is kept for every kind."""
    latest: dict[str, Any] = {}
    summed: dict[str, int] = {}
    for payload in payloads:
        usage = None
        if isinstance(payload.get("usage"), dict):
            usage = payload["usage"]
        elif isinstance(payload.get("interaction"), dict) and isinstance(
            payload["interaction"].get("usage"), dict
        ):
            usage = payload["interaction"]["usage"]
        elif isinstance(payload.get("metadata"), dict) and isinstance(
            payload["metadata"].get("total_usage"), dict
        ):
            usage = payload["metadata"]["total_usage"]
        if usage:
            latest = {**latest, **usage}
        step = payload.get("step_usage")
        if isinstance(step, dict):
            for key, value in step.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    summed[key] = summed.get(key, 0) + value
    merged = dict(latest)
    for key, value in summed.items():
        if not isinstance(merged.get(key), int) or merged[key] < value:
            merged[key] = value
    if "total_tokens" not in latest and summed:
        merged["total_tokens"] = sum(
            merged.get(k, 0)
            for k in (
                "total_input_tokens",
                "total_output_tokens",
                "total_thought_tokens",
                "total_tool_use_tokens",
            )
            if isinstance(merged.get(k), int)
        )
    return merged


def over_ceiling(
    ceiling_tokens: int | None,
    ceiling_cost: float | None,
    tokens: int,
    cost: float | None,
) -> str | None:
    """Why usage is past a ceiling (None if it is not)."""
    if ceiling_tokens is not None and tokens >= ceiling_tokens:
        return f"used {tokens:,} tokens, budget {ceiling_tokens:,} tokens"
    if ceiling_cost is not None and cost is not None and cost >= ceiling_cost:
        return f"cost ${cost:,.4f}, budget ${ceiling_cost:,.4g}"
    return None


# The events that may carry usage (interactions-api.md section 4.3).
_USAGE_EVENTS = frozenset(
    {
        "interaction.created",
        "interaction.status_update",
        "step.delta",
        "step.stop",
        "interaction.completed",
    }
)


class Budgets:
    """Budget rules over the store; `service` is the JobService whose cancel path is used."""

    def __init__(self, service: Any, prices: PriceTable | None = None) -> None:
        from jobs.store.usage import UsageStore

        self.service = service
        self.store = UsageStore(service.store.db)
        self._prices = prices

    @property
    def prices(self) -> PriceTable:
        if self._prices is None:
            from jobs.service.prices import load_price_table

            self._prices = load_price_table(self.service.settings)
        return self._prices

    # -- setting -----------------------------------------------------------------------------------

    def set(self, kind: str, ref_id: str, ceiling: Ceiling) -> Any:
        if kind not in KINDS:
            raise UsageError(f"unknown budget kind {kind!r}; choose from {', '.join(KINDS)}")
        if ceiling.max_tokens is None and ceiling.max_cost_usd is None:
            raise UsageError("a budget needs a token or a dollar ceiling")
        return self.store.set_budget(
            kind,
            ref_id,
            max_tokens=ceiling.max_tokens,
            max_cost_usd=ceiling.max_cost_usd,
            now=self.service.clock.now(),
        )

    def get(self, kind: str, ref_id: str) -> Any:
        return self.store.get_budget(kind, ref_id)

    # -- the worker's one call ---------------------------------------------------------------------

    def enforce(self, now: datetime) -> list[str]:
        """Trip and cancel every running job past its ceiling; returns the ids asked to stop."""
        stopped = []
        live, tripped = self.store.budget_work()
        for job in live:
            usage = self._usage_so_far(job)
            tokens = usage.get("total", 0)
            cost = self.prices.cost(
                job.target,
                job.service_tier,
                job.created_at.date(),
                usage,
                job.search_calls,
            )
            reason = over_ceiling(job.budget.max_tokens, job.budget.max_cost_usd, tokens, cost)
            if reason is None:
                continue
            message = f"stopped by its budget: {reason}"
            if self.store.trip("job", job.job_id, message, now):
                log.warning("job %s: %s; cancelling it", job.job_id, message)
            stopped.append(job.job_id)
        stopped += [j for j in tripped if j not in stopped]
        for job_id in stopped:
            self._request_cancel(job_id, now)
        self._stop_batches_past_their_ceiling(now)
        return stopped

    def carry_to_firing(self, schedule_id: str, batch_id: str) -> None:
        """A schedule's ceiling holds for each of its firings: the firing's batch gets it."""
        budget = self.store.get_budget("schedule", schedule_id)
        if budget is not None:
            ceiling = Ceiling(max_tokens=budget.max_tokens, max_cost_usd=budget.max_cost_usd)
            self.set("batch", batch_id, ceiling)

    def refused(self, job_ids: Sequence[str]) -> tuple[dict[str, str], set[str]]:
        """Of these pending jobs: those that may not be sent, with why (lines of a batch past its
        ceiling), and those held back for now. A budgeted batch keeps at most
        `batch.concurrency` lines running, so that its usage can stop it before every line was
        sent. One query when no batch has a budget (the common case)."""
        batch_refs = set(self.store.budget_refs("batch"))
        if not batch_refs:
            return {}, set()
        lines = self.service.batches.store
        running = ("submitting", "queued", "in_progress", "requires_action", "unknown")
        room_of: dict[str, int] = {}
        refused: dict[str, str] = {}
        held: set[str] = set()
        for job_id in job_ids:
            line = lines.line_of_job(job_id)
            if line is None or line.batch_id not in batch_refs:
                continue
            batch_id = line.batch_id
            if batch_id not in room_of:
                allowed = self.batch_allows(batch_id, lines.job_ids(batch_id))
                live = len(lines.job_ids(batch_id, statuses=running))
                room_of[batch_id] = (
                    max(0, int(self.service.settings["batch.concurrency"]) - live)
                    if allowed
                    else -1
                )
            if room_of[batch_id] < 0:
                refused[job_id] = f"batch {batch_id} is past its budget"
            elif room_of[batch_id] == 0:
                held.add(job_id)
            else:
                room_of[batch_id] -= 1
        return refused, held

    def _stop_batches_past_their_ceiling(self, now: datetime) -> None:
        """A batch past its ceiling submits no more lines: its unsent lines are cancelled here
        (no network call); lines already running go on to their end."""
        batches = self.service.batches.store
        for batch_id in self.store.budget_refs("batch"):
            pending = batches.job_ids(batch_id, statuses=("pending",))
            if not pending or self.batch_allows(batch_id, batches.job_ids(batch_id)):
                continue
            why = f"batch {batch_id} is past its budget"
            cancelled = sum(
                self.service.store.cancel_unsent(job_id, now, reason=why) for job_id in pending
            )
            if cancelled:
                log.warning(
                    "batch %s: past its budget; %d unsent line(s) cancelled", batch_id, cancelled
                )

    def _request_cancel(self, job_id: str, now: datetime) -> None:
        """Record the cancel; the same pass's poll step sends it (no network call here)."""
        from jobs.status import JobStatus

        job = self.service.store.find_job(job_id)
        if job is None or job.job_status.is_terminal:
            return
        if job.job_status in (JobStatus.PENDING, JobStatus.SUBMIT_UNKNOWN):
            self.service.store.cancel_unsent(job_id, now)
            return
        self.service.store.request_cancel(job_id, now)

    def _usage_so_far(self, job: Any) -> dict[str, int]:
        tokens = dict(job.tokens)
        streamed = self._streamed(job.job_id)
        if streamed:
            from jobs.store.usage import search_calls, usage_figures

            for kind, value in usage_figures(streamed).items():
                if value is not None and value > tokens.get(kind, 0):
                    tokens[kind] = value
            job.search_calls = max(job.search_calls, search_calls(streamed) or 0)
        return tokens

    def _streamed(self, job_id: str) -> dict[str, Any]:
        """Usage the job's stream reported so far, from the event journal."""
        payloads = [
            event.payload
            for event in self.service.journal.read(job_id)
            if event.event_type in _USAGE_EVENTS and isinstance(event.payload, dict)
        ]
        return streamed_usage(payloads)

    # -- batches and schedules ---------------------------------------------------------------------

    def spent(self, job_ids: Sequence[str]) -> tuple[int, float, int]:
        """(tokens, cost of the priced jobs, number of unpriced jobs that used tokens)."""
        tokens_total = 0
        cost_total = 0.0
        unpriced = 0
        for job, usage in self.store.jobs_usage(job_ids):
            figures = {
                "input": job.input_tokens or 0,
                "output": job.output_tokens or 0,
                "thought": job.thought_tokens or 0,
                "cached": job.cached_tokens or 0,
                "tool_use": job.tool_use_tokens or 0,
                "total": job.total_tokens or 0,
            }
            searches = (usage.search_calls if usage else None) or 0
            if job.total_tokens is None and usage is not None:  # still running: what it used so far
                for kind in figures:
                    figures[kind] = int(getattr(usage, f"live_{kind}_tokens") or 0)
                searches = usage.live_search_calls or 0
            tokens_total += figures["total"]
            if not figures["total"]:
                continue
            tier = usage.service_tier if usage else None
            cost = self.prices.cost(job.target, tier, job.created_at.date(), figures, searches)
            if cost is None:
                unpriced += 1
            else:
                cost_total += cost
        return tokens_total, cost_total, unpriced

    def allows(self, kind: str, ref_id: str, job_ids: Sequence[str]) -> bool:
        """May a batch submit another line / a schedule fire? False once its jobs' usage reached
        its ceiling (then the budget records that it tripped). No budget: True."""
        budget = self.store.get_budget(kind, ref_id)
        if budget is None:
            return True
        if budget.tripped_at is not None:
            return False
        tokens, cost, unpriced = self.spent(job_ids)
        reason = over_ceiling(budget.max_tokens, budget.max_cost_usd, tokens, cost)
        if reason is None and unpriced and budget.max_cost_usd is not None:
            # A dollar ceiling cannot be checked against unpriced jobs: say so, do not guess free.
            log.warning(
                "%s %s: %d job(s) unpriced; its dollar budget ignores them", kind, ref_id, unpriced
            )
        if reason is None:
            return True
        self.store.trip(kind, ref_id, f"stopped by its budget: {reason}", self.service.clock.now())
        return False

    def batch_allows(self, batch_id: str, job_ids: Sequence[str]) -> bool:
        return self.allows("batch", batch_id, job_ids)

    def schedule_allows(self, firing_id: str, job_ids: Sequence[str]) -> bool:
        return self.allows("schedule", firing_id, job_ids)
