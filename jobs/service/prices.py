"""The price table: which price applies to a job, and what its usage costs.

The shipped table is `jobs/data/prices.toml` (each row with its source and how it was checked). The
config overrides it: `[[prices.price]]` rows in config.toml, and/or a TOML file named by
`prices.file` (env JOBS_PRICES) in the same format. A model and service tier that the user prices is
priced by the user's rows only (with their own effective dates); the others keep the shipped rows.

A price applies from its `effective` date on, so adding a row dated today never changes the cost of
older jobs. No matching row means unpriced (None), never zero. Cheap to import (stdlib only).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError

PER_TOKENS = 1_000_000  # token prices are per million tokens
PER_SEARCHES = 1_000  # search prices are per thousand calls
ANY_TIER = "*"

_PRICE_FIELDS = ("input", "cached", "output", "thought", "tool_use", "search")
_KNOWN = {
    "target",
    "service_tier",
    "effective",
    "context_above",
    "source",
    "verified",
    *_PRICE_FIELDS,
}


@dataclass(frozen=True)
class Price:
    """One row of the table. Token prices in USD per 1M tokens, search in USD per 1,000 calls."""

    target: str
    service_tier: str
    effective: date
    input: float
    output: float
    cached: float | None = None
    thought: float | None = None
    tool_use: float | None = None
    search: float | None = None
    context_above: int = 0
    source: str = ""
    verified: str = ""
    origin: str = "shipped"  # shipped | config | the file it came from

    @property
    def key(self) -> tuple[str, str, date, int]:
        return (self.target, self.service_tier, self.effective, self.context_above)

    def cost(self, tokens: dict[str, int], search_calls: int = 0) -> float:
        """USD for these token sums (input includes cached, as the API reports it)."""
        cached = tokens.get("cached", 0)
        uncached = max(0, tokens.get("input", 0) - cached)
        total = uncached * self.input + cached * (
            self.cached if self.cached is not None else self.input
        )
        total += tokens.get("output", 0) * self.output
        total += tokens.get("thought", 0) * (
            self.thought if self.thought is not None else self.output
        )
        total += tokens.get("tool_use", 0) * (
            self.tool_use if self.tool_use is not None else self.input
        )
        cost = total / PER_TOKENS
        if search_calls and self.search is not None:
            cost += search_calls * self.search / PER_SEARCHES
        return cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "service_tier": self.service_tier,
            "effective": self.effective.isoformat(),
            "context_above": self.context_above,
            **{name: getattr(self, name) for name in _PRICE_FIELDS},
            "source": self.source,
            "verified": self.verified,
            "origin": self.origin,
        }


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: effective must be a date like 2026-04-01, got {value!r}")


def _number(row: dict[str, Any], name: str, where: str, *, required: bool) -> float | None:
    value = row.get(name)
    if value is None:
        if required:
            raise ConfigError(f"{where}: a price needs {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: {name} must be a non-negative number, got {value!r}")
    return float(value)


def parse_rows(rows: Iterable[Any], origin: str) -> list[Price]:
    """Validate rows read from TOML; every mistake is one ConfigError naming the row."""
    prices = []
    for index, row in enumerate(rows, 1):
        where = f"price table {origin}, row {index}"
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: each price is a table ([[price]])")
        unknown = set(row) - _KNOWN
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        target = row.get("target")
        if not isinstance(target, str) or not target:
            raise ConfigError(f"{where}: a price needs a target (a model or agent name)")
        where = f"{where} ({target})"
        context_above = row.get("context_above", 0)
        if (
            isinstance(context_above, bool)
            or not isinstance(context_above, int)
            or context_above < 0
        ):
            raise ConfigError(f"{where}: context_above must be a whole number of tokens")
        prices.append(
            Price(
                target=target,
                service_tier=str(row.get("service_tier", "standard")),
                effective=_as_date(row.get("effective"), where),
                input=_number(row, "input", where, required=True) or 0.0,
                output=_number(row, "output", where, required=True) or 0.0,
                cached=_number(row, "cached", where, required=False),
                thought=_number(row, "thought", where, required=False),
                tool_use=_number(row, "tool_use", where, required=False),
                search=_number(row, "search", where, required=False),
                context_above=context_above,
                source=str(row.get("source", "")),
                verified=str(row.get("verified", "")),
                origin=origin,
            )
        )
    return prices


def shipped_rows() -> list[Price]:
    text = resources.files("jobs").joinpath("data/prices.toml").read_text(encoding="utf-8")
    return parse_rows(tomllib.loads(text).get("price", []), "shipped")


def read_price_file(path: Path) -> list[Price]:
    try:
        data = tomllib.loads(path.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read price table {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"price table {path} is not valid TOML: {exc}") from None
    return parse_rows(data.get("price", []), str(path))


@dataclass
class PriceTable:
    """The prices in force: lookups by target, tier, day and prompt size."""

    rows: list[Price] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_target: dict[str, list[Price]] = {}
        for row in self.rows:
            self._by_target.setdefault(row.target, []).append(row)

    @classmethod
    def merged(cls, *layers: Sequence[Price]) -> PriceTable:
        """Layers in rising precedence (shipped, config, file). For each (target, service tier),
        only the rows of the highest layer that prices it are kept: a user who prices a model gets
        their prices for it, whatever dates the shipped rows carry. Within a layer, a later row with
        the same key replaces an earlier one."""
        owner: dict[tuple[str, str], int] = {}
        for level, layer in enumerate(layers):
            for row in layer:
                owner[(row.target, row.service_tier)] = level
        by_key: dict[tuple, Price] = {}
        for level, layer in enumerate(layers):
            for row in layer:
                if owner[(row.target, row.service_tier)] == level:
                    by_key[row.key] = row
        rows = sorted(
            by_key.values(), key=lambda p: (p.target, p.service_tier, p.effective, p.context_above)
        )
        return cls(rows)

    def thresholds(self) -> list[int]:
        """Every context tier boundary in the table (for usage queries' context buckets)."""
        return sorted({row.context_above for row in self.rows if row.context_above > 0})

    def lookup(
        self, target: str, service_tier: str | None, day: date, input_tokens_above: int = 0
    ) -> Price | None:
        """The row for a job of `target` run at `service_tier`, created on `day`, whose input was
        more than `input_tokens_above` tokens (0: any size); None when nothing applies."""
        tier = service_tier or "standard"
        candidates = [
            row
            for row in self._by_target.get(target, ())
            if row.effective <= day and row.service_tier in (tier, ANY_TIER)
        ]
        if not candidates:
            return None
        # An exact tier beats "*"; then the latest effective date; then the largest context tier
        # that the prompt is above.
        exact = [row for row in candidates if row.service_tier == tier]
        candidates = exact or candidates
        latest = max(row.effective for row in candidates)
        fitting = [
            row
            for row in candidates
            if row.effective == latest and row.context_above <= input_tokens_above
        ]
        return max(fitting, key=lambda row: row.context_above) if fitting else None

    def cost(
        self,
        target: str,
        service_tier: str | None,
        day: date,
        tokens: dict[str, int],
        search_calls: int = 0,
    ) -> float | None:
        """The cost of one job's usage, or None if unpriced."""
        input_tokens = tokens.get("input", 0)
        # The row for the largest boundary the prompt exceeds.
        above = max((t for t in self.thresholds() if input_tokens > t), default=0)
        price = self.lookup(target, service_tier, day, above)
        return None if price is None else price.cost(tokens, search_calls)


def load_price_table(settings: Any) -> PriceTable:
    """Shipped rows, then `[[prices.price]]` from the config, then the file `prices.file` names."""
    layers = [shipped_rows()]
    inline = settings["prices.price"] if "prices.price" in settings.values else []
    if inline:
        layers.append(parse_rows(inline, "config"))
    path = settings["prices.file"] if "prices.file" in settings.values else ""
    if path:
        layers.append(read_price_file(Path(path)))
    return PriceTable.merged(*layers)
