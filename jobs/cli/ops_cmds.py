"""Commands that run or inspect the runner: worker, poll, config, db, doctor, demo."""

from __future__ import annotations

import json
import logging

import click
from rich.table import Table
from rich.text import Text

from jobs.cli.context import CliContext
from jobs.cli.output import print_plain_when_piped
from jobs.errors import UsageError

pass_ctx = click.make_pass_decorator(CliContext)


@click.command()
@click.option(
    "--tick", type=click.FloatRange(min=0.1), help="Seconds between passes (config: worker.tick)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option(
    "--webhook-port",
    type=click.IntRange(0, 65535),
    help="Also receive webhook deliveries on this port (needs webhooks.public_url).",
)
@pass_ctx
def worker(ctx: CliContext, tick: float | None, quiet: bool, webhook_port: int | None) -> None:
    """Run the worker: submit waiting jobs and poll running ones until Ctrl-C / SIGTERM.

    It prints a line for each pass that changed something, and one a minute while nothing does
    (what it is waiting on), so a quiet worker is visibly alive.

    \b
    Examples:
      gjobs worker
      gjobs worker -q --tick 5 &
      gjobs poll --once            # one pass instead, e.g. from cron
    """
    from jobs.models import JobStatus
    from jobs.worker import Worker

    if webhook_port is not None and not ctx.settings["webhooks.public_url"]:
        raise UsageError("--webhook-port needs webhooks.public_url (env JOBS_WEBHOOK_URL)")
    if not logging.getLogger().handlers:
        ctx.setup_logging(logging.WARNING if quiet else logging.INFO, brief=True)
    app = ctx.open_app("worker")
    listener = None
    try:
        app.service.gateway_ready()
        if webhook_port is not None:
            from jobs.webhook_routes import WebhookListener

            receiving = ctx.open_app("webhooks")  # its own store connections, in its own thread
            listener = WebhookListener(lambda: receiving.service, "127.0.0.1", webhook_port)
            listener.start()
        runner = Worker(app.service)
        interval = tick or float(ctx.settings["worker.tick"])
        if not quiet:
            ctx.err_console.print(
                f"worker {runner.id}: a pass every {interval:g}s, Ctrl-C stops it\n"
                f"  store {app.database.display_url}\n  API   {app.gateway.target}",
                soft_wrap=True,
            )
        last_line = ctx.clock.monotonic()
        alive_every = float(ctx.settings["worker.alive_every"])

        def say(line: str) -> None:
            nonlocal last_line
            last_line = ctx.clock.monotonic()
            ctx.err_console.print(f"{ctx.clock.now():%H:%M:%S} {line}", soft_wrap=True)

        def report(result) -> None:
            if quiet:
                return
            if result.submitted or result.finished or result.marked_unknown or result.errors:
                line = f"submitted {result.submitted}, polled {result.polled}, finished {result.finished}"
                if result.errors:
                    line += f", errors {result.errors}"
                if result.marked_unknown:
                    line += f", {result.marked_unknown} now submit_unknown"
                say(line)
            elif ctx.clock.monotonic() - last_line >= alive_every:
                counts = app.store.count_by_status()
                active = {s: n for s, n in counts.items() if not JobStatus(s).is_terminal}
                held = ", ".join(f"{n} {s}" for s, n in sorted(active.items()))
                say(f"alive: {f'waiting on {held}' if held else 'no active jobs'}")

        if listener is not None and not quiet:
            ctx.err_console.print(
                f"  webhooks on 127.0.0.1:{webhook_port}/webhooks/interactions "
                f"(the API posts to {app.service.webhooks.receiver_url})",
                soft_wrap=True,
            )
        runner.run(tick=interval, on_pass=report)
    finally:
        if listener is not None:
            listener.stop()
        app.close()
    if not quiet:
        ctx.err_console.print("worker stopped")


@click.command()
@click.option("--once", is_flag=True, required=True, help="Do one pass and exit (for cron).")
@click.option("--json", "as_json", is_flag=True, help="Print what the pass did as JSON.")
@pass_ctx
def poll(ctx: CliContext, once: bool, as_json: bool) -> None:
    """Do one worker pass (submit ready jobs, poll due ones) and exit.

    \b
    Examples:
      gjobs poll --once
      * * * * * gjobs poll --once        # a crontab line: a pass every minute
    """
    from dataclasses import asdict

    from jobs.worker import Worker

    app = ctx.open_app("poll")
    app.service.gateway_ready()
    runner = Worker(app.service)
    try:
        result = runner.poll_once()
    finally:
        runner.mark_stopped()  # a finished pass is not a live worker (`jobs doctor`)
    if as_json:
        click.echo(json.dumps(asdict(result)))
    else:
        click.echo(
            f"submitted {result.submitted}, polled {result.polled}, finished {result.finished}, "
            f"errors {result.errors}"
        )


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def config_command(ctx: CliContext, as_json: bool) -> None:
    """Print the effective configuration and where each value came from (the key is hidden).

    \b
    Example:
      gjobs config --json | jq -r '."store.url".value'
    """
    values = ctx.settings.redacted()
    if as_json:
        click.echo(
            json.dumps({k: {"value": v, "source": s} for k, (v, s) in values.items()}, indent=2)
        )
        return
    # One line per setting, the source dimmed after the value: nothing is cut at 80 columns, and
    # a long value wraps before its source rather than inside a path or URL.
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("value (from)", overflow="fold")
    for key, (value, source) in values.items():
        if source.startswith("config file "):
            source = "config file"  # its path is printed once, below
        cell = Text(str(value) if value != "" else '""')
        cell.append(f"  ({source})", style="dim")
        table.add_row(key, cell)
    print_plain_when_piped(ctx.console, table)
    path = ctx.settings.config_path or (ctx.settings.home / "config.toml")
    ctx.console.print(
        Text(
            f"config file: {path}" + ("" if ctx.settings.config_path else " (not present)"),
            style="dim",
        )
    )


@click.group()
def db() -> None:
    """Manage the store."""


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print what was applied as JSON.")
@pass_ctx
def db_upgrade(ctx: CliContext, as_json: bool) -> None:
    """Apply pending migrations to the store (also done whenever it is opened).

    \b
    Example:
      JOBS_DB_URL=postgresql+psycopg://me@db:5432/jobs gjobs db upgrade
    """
    from jobs.db import open_database
    from jobs.migrate import current_revision, upgrade

    database = open_database(ctx.settings.db_url, migrate=False)
    try:
        applied = upgrade(database.engine)
        revision = current_revision(database.engine)
    finally:
        database.close()
    if as_json:
        click.echo(
            json.dumps(
                {"store": database.display_url, "applied": applied, "revision": revision}, indent=2
            )
        )
    elif applied:
        click.echo(
            f"applied {', '.join(applied)}; {database.display_url} is at revision {revision}"
        )
    else:
        click.echo(f"{database.display_url} is up to date (revision {revision})")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_ctx
def doctor(ctx: CliContext, as_json: bool) -> None:
    """Check the store, workers, leases and jobs that need attention.

    \b
    Examples:
      gjobs doctor
      gjobs doctor --json
    """
    from jobs.db import display_url
    from jobs.doctor import Check, run_checks
    from jobs.errors import StoreError

    try:
        checks = run_checks(ctx.app)
    except StoreError as exc:  # a store that cannot be opened is the finding, not a crash
        checks = [
            Check("store", "info", display_url(ctx.settings.db_url)),
            Check("store", "fail", str(exc)),
        ]
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        styles = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "dim"}
        grid = Table.grid(padding=(0, 2))  # long details wrap under themselves, not under the level
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for check in checks:
            detail = Text(f"{check.name}: ", style="bold")
            detail.append(check.detail)
            grid.add_row(Text(check.level, style=styles[check.level]), detail)
        print_plain_when_piped(ctx.console, grid)
    if any(c.level == "fail" for c in checks):
        raise SystemExit(1)


@click.command()
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=150.0,
    show_default=True,
    help="How much faster than real time the emulator runs.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the demo's store (printed at the end) instead of deleting it.",
)
@pass_ctx
def demo(ctx: CliContext, speed: float, keep: bool) -> None:
    """Show the life of a few jobs on the built-in emulator (no key, no network).

    \b
    Example:
      gjobs demo --speed 600 --keep
    """
    from jobs.demo import run_demo

    if speed <= 0:
        raise UsageError("--speed must be positive")
    run_demo(ctx.console, speed=speed, keep=keep)


COMMANDS = (worker, poll, config_command, db, doctor, demo)
