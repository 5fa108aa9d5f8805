"""Commands that report on the store: usage (tokens and cost), export, db backup.

They only read (backup copies), through store/queries.py: on a SQLite store nothing here imports
SQLAlchemy or the API's SDK.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click
from rich.table import Table
from rich.text import Text

from jobs.cli.context import CliContext
from jobs.errors import UsageError

pass_ctx = click.make_pass_decorator(CliContext)


def _filter(ctx: CliContext, *, since=None, until=None, statuses=(), labels=(), batch=None):
    from jobs.cli.jobs_cmds import _statuses, parse_since
    from jobs.store.queries import ListFilter

    now = ctx.clock.now()
    wanted = {}
    for pair in labels:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"bad label {pair!r}: use key=value")
        wanted[key] = value
    if batch:
        wanted["batch"] = batch
    filt = ListFilter(
        statuses=_statuses(statuses),
        labels=wanted or None,
        since=parse_since(since, now) if since else None,
        until=parse_since(until, now) if until else None,
    )
    if filt.since and filt.until and filt.until <= filt.since:
        raise UsageError("--until must be later than --since")
    return filt


def _print_wide(ctx: CliContext, table: Table, width: int) -> None:
    """Wide tables: a terminal's own width; to a pipe or file, wide enough not to cut cells."""
    console = ctx.console
    if not console.is_terminal and console.width < width:
        from rich.console import Console

        console = Console(highlight=False, width=width, file=console.file)
    console.print(table)


def _tokens(value: int) -> str:
    from jobs.render import human_tokens

    return human_tokens(value) if value else "0"


# -- usage ---------------------------------------------------------------------------------------


@click.command()
@click.option("--since", help="Only jobs created since, e.g. 7d, 2026-11-01.")
@click.option("--until", help="Only jobs created before, e.g. 1d, 2026-12-01.")
@click.option(
    "--by",
    "by",
    default="model",
    show_default=True,
    help="Group by model, agent, day, week, month, batch, schedule or label:KEY.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--prices", "show_prices", is_flag=True, help="Print the price table in force.")
@pass_ctx
def usage(
    ctx: CliContext,
    since: str | None,
    until: str | None,
    by: str,
    as_json: bool,
    show_prices: bool,
) -> None:
    """Tokens, search calls and cost, per group and in total."""
    from jobs.service.usage import check_grouping, usage_report

    if show_prices:
        if since or until:
            raise UsageError("--prices prints the table; it takes no --since/--until")
        _print_prices(ctx, as_json)
        return
    by = check_grouping(by)
    filt = _filter(ctx, since=since, until=until)
    report = usage_report(ctx.queries, ctx.prices, filt, by)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    if not report.total.jobs:
        ctx.err_console.print("no jobs match" if (since or until) else "no jobs yet")
        return
    table = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 1))
    table.add_column(by, no_wrap=True, overflow="ellipsis", max_width=34)
    for name in ("jobs", "input", "cached", "output", "thought", "tools", "total", "search"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)

    def row(group, style: str = "") -> None:
        t = group.tokens
        table.add_row(
            Text(group.name),
            str(group.jobs),
            _tokens(t["input"]),
            _tokens(t["cached"]),
            _tokens(t["output"]),
            _tokens(t["thought"]),
            _tokens(t["tool_use"]),
            _tokens(t["total"]),
            str(group.search_calls),
            Text(group.cost_text, style="yellow" if group.unpriced_jobs else ""),
            style=style,
        )

    for group in report.groups:
        row(group)
    table.add_section()
    row(report.total, "bold")
    _print_wide(ctx, table, 120)
    if report.total.unpriced_targets:
        ctx.err_console.print(
            Text(
                "unpriced (no price in the table, not counted as free): "
                + ", ".join(sorted(report.total.unpriced_targets))
                + "; add prices in the config ([prices], see `jobs usage --prices`)",
                style="yellow",
            )
        )


def _print_prices(ctx: CliContext, as_json: bool) -> None:
    from jobs.service.usage import price_rows

    rows = list(price_rows(ctx.prices))
    if as_json:
        click.echo(json.dumps({"currency": "USD", "prices": rows}, indent=2))
        return
    table = Table(
        header_style="bold",
        box=None,
        pad_edge=False,
        padding=(0, 1),
        caption="USD per 1M tokens; search per 1,000 calls. `--prices --json` adds each row's source.",
    )
    table.add_column("model/agent", no_wrap=True, overflow="ellipsis", max_width=34)
    table.add_column("tier", no_wrap=True, min_width=8)
    table.add_column("from", no_wrap=True, min_width=10)
    table.add_column("prompt", no_wrap=True, min_width=6)
    for name in ("input", "cached", "output", "thought", "search"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_column("checked", no_wrap=True, min_width=10)

    def money(value: float | None, default: float | None = None) -> str:
        value = default if value is None else value
        return "" if value is None else f"{value:g}"

    for row in rows:
        table.add_row(
            row["target"],
            row["service_tier"],
            row["effective"],
            f">{row['context_above'] // 1000}k" if row["context_above"] else "any",
            money(row["input"]),
            money(row["cached"], row["input"]),
            money(row["output"]),
            money(row["thought"], row["output"]),
            money(row["search"]),
            row["verified"] if row["origin"] == "shipped" else row["origin"],
        )
    _print_wide(ctx, table, 120)


# -- export --------------------------------------------------------------------------------------


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with handle:
        yield handle


@click.command()
@click.option("--batch", help="Only the jobs of this batch (label batch=ID).")
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeatable).")
@click.option("--since", help="Only jobs created since, e.g. 7d, 2026-11-01.")
@click.option("-l", "--label", "labels", multiple=True, help="Only jobs with key=value.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "md"]),
    required=True,
    help="jsonl: whole records; csv: one row a job with usage and cost; md: the reports.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@pass_ctx
def export(
    ctx: CliContext,
    batch: str | None,
    statuses: tuple[str, ...],
    since: str | None,
    labels: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Export jobs as JSON Lines, CSV or Markdown, oldest first (streams: any number of jobs)."""
    from jobs.service import export as exporting

    filt = _filter(ctx, since=since, statuses=statuses, labels=labels, batch=batch)
    records = exporting.records(ctx.queries, ctx.prices, filt)
    writer = {"jsonl": exporting.write_jsonl, "csv": exporting.write_csv, "md": exporting.write_md}
    with _output(output) as handle:
        count = writer[fmt](records, handle)
    if output is not None and str(output) != "-":
        ctx.err_console.print(f"exported {count} job{'s' if count != 1 else ''} to {output}")


# -- db backup -----------------------------------------------------------------------------------


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@pass_ctx
def db_backup(ctx: CliContext, path: Path, force: bool) -> None:
    """Copy the store to PATH consistently, while workers run (SQLite's online backup)."""
    from jobs.service.backup import backup_sqlite, postgres_advice
    from jobs.store.queries import sqlite_path

    source = sqlite_path(ctx.settings.db_url)
    if source is None:
        if ctx.settings.db_url.startswith("postgresql"):
            raise UsageError(postgres_advice(ctx.settings.db_url))
        raise UsageError("db backup copies a SQLite store file; this store is not one")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; give --force to replace it")
    pages = backup_sqlite(source, path, replace=force)
    ctx.console.print(f"backed up {source} to {path} ({pages:,} pages)")


def _attach_backup() -> None:
    from jobs.cli.ops_cmds import db

    db.add_command(db_backup)


_attach_backup()

COMMANDS = (usage, export)
