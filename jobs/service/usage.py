"""Usage and cost: `jobs usage` reports, and the cost of one job (`show`, `export`).

Sums come from one grouped query (store/queries.py `usage_cells`) per (group, model or agent,
service tier, day, context tier); each cell is priced with the row in force on its day, so a price
change only affects jobs from its effective date on. A cell whose target has no price is counted as
unpriced (its jobs and tokens are still shown), never as free. Cheap to import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jobs.service.prices import PriceTable
from jobs.store.queries import TOKEN_KINDS, ListFilter, Queries, UsageCell

GROUPINGS = ("model", "agent", "day", "week", "month", "batch", "schedule")


def check_grouping(by: str) -> str:
    from jobs.errors import UsageError

    if by in GROUPINGS or (by.startswith("label:") and len(by) > len("label:")):
        return by
    raise UsageError(f"cannot group by {by!r}; choose {', '.join(GROUPINGS)} or label:KEY")


@dataclass
class UsageGroup:
    name: str
    jobs: int = 0
    with_usage: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KINDS, 0))
    search_calls: int = 0
    cost: float = 0.0  # of the priced jobs
    priced_jobs: int = 0
    unpriced_jobs: int = 0  # jobs with usage whose model/agent (or tier) has no price
    unpriced_targets: set[str] = field(default_factory=set)

    def add(self, cell: UsageCell, cost: float | None) -> None:
        self.jobs += cell.jobs
        self.with_usage += cell.with_usage
        for kind in TOKEN_KINDS:
            self.tokens[kind] += cell.tokens.get(kind, 0)
        self.search_calls += cell.search_calls
        if cell.with_usage == 0:
            return
        if cost is None:
            self.unpriced_jobs += cell.with_usage
            label = (
                cell.target
                if cell.service_tier == "standard"
                else f"{cell.target} ({cell.service_tier})"
            )
            self.unpriced_targets.add(label)
        else:
            self.cost += cost
            self.priced_jobs += cell.with_usage

    @property
    def cost_text(self) -> str:
        if self.with_usage == 0:
            return ""
        if self.priced_jobs == 0:
            return "unpriced"
        text = f"${self.cost:,.4f}" if self.cost < 1 else f"${self.cost:,.2f}"
        return text + (f" +{self.unpriced_jobs} unpriced" if self.unpriced_jobs else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.name,
            "jobs": self.jobs,
            "jobs_with_usage": self.with_usage,
            "tokens": dict(self.tokens),
            "search_calls": self.search_calls,
            "cost_usd": round(self.cost, 6) if self.priced_jobs else None,
            "priced_jobs": self.priced_jobs,
            "unpriced_jobs": self.unpriced_jobs,
            "unpriced": sorted(self.unpriced_targets),
        }


@dataclass
class UsageReport:
    by: str
    groups: list[UsageGroup]
    total: UsageGroup

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "currency": "USD",
            "groups": [g.as_dict() for g in self.groups],
            "total": self.total.as_dict(),
        }


def cell_cost(table: PriceTable, cell: UsageCell, thresholds: list[int]) -> float | None:
    above = thresholds[cell.context_bucket - 1] if cell.context_bucket else 0
    price = table.lookup(cell.target, cell.service_tier, date.fromisoformat(cell.day), above)
    return None if price is None else price.cost(cell.tokens, cell.search_calls)


def usage_report(queries: Queries, table: PriceTable, filt: ListFilter, by: str) -> UsageReport:
    thresholds = table.thresholds()
    groups: dict[str, UsageGroup] = {}
    total = UsageGroup("total")
    for cell in queries.usage_cells(filt, by=by, thresholds=thresholds):
        cost = cell_cost(table, cell, thresholds)
        groups.setdefault(cell.group, UsageGroup(cell.group)).add(cell, cost)
        total.add(cell, cost)
    ordered = sorted(groups.values(), key=lambda g: g.name)
    if by in ("model", "agent") or by.startswith("label:") or by in ("batch", "schedule"):
        ordered.sort(key=lambda g: (-g.cost, -g.tokens["total"], g.name))
    return UsageReport(by, ordered, total)


def job_tokens(job: Any) -> dict[str, int]:
    return {kind: int(getattr(job, f"{kind}_tokens", None) or 0) for kind in TOKEN_KINDS}


def job_cost(
    table: PriceTable, job: Any, service_tier: str | None, search_calls: int | None
) -> float | None:
    """A finished job's cost, or None (no usage recorded, or unpriced: see `is_priced`)."""
    if job.total_tokens is None:
        return None
    return table.cost(
        job.target, service_tier, job.created_at.date(), job_tokens(job), search_calls or 0
    )


def cost_text(cost: float | None, has_usage: bool) -> str:
    if not has_usage:
        return ""
    if cost is None:
        return "unpriced"
    return f"${cost:,.4f}" if cost < 1 else f"${cost:,.2f}"


def price_rows(table: PriceTable) -> Iterable[dict[str, Any]]:
    return (row.as_dict() for row in table.rows)
