"""Click option blocks that several commands share, and the checks behind them.

`--budget` and `--notify` mean the same on `submit`, `batch submit` and `schedule add`; only what
they apply to (a job, a batch, each firing's batch) differs, and each command's help says that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from jobs.cli.context import CliContext
from jobs.errors import UsageError


def budget_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--budget LIMIT` (repeatable), given to the command as `budgets`."""
    return click.option("--budget", "budgets", multiple=True, metavar="LIMIT", help=help)


def notify_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--notify CMD|URL`, given to the command as `notify`."""
    return click.option("--notify", help=help)


def budget_ceiling(ctx: CliContext, values: tuple[str, ...], target: str):
    """The --budget ceiling, checked before anything is recorded: a dollar ceiling needs a price."""
    if not values:
        return None
    from jobs.service.budgets import parse_budget

    ceiling = parse_budget(values)
    if ceiling.max_cost_usd is not None and not any(
        row.target == target for row in ctx.prices.rows
    ):
        raise UsageError(
            f"{target} has no price, so a dollar budget cannot be checked; give a token budget "
            "(e.g. --budget 50k) or add its price ([prices] in the config)"
        )
    return ceiling
