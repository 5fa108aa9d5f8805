"""`schedule` commands: a batch file fired on a cron schedule, by the worker, once per fire time
whoever runs (the rules are in service/schedules.py).
"""

from __future__ import annotations

import sys

import click
from rich.table import Table
from rich.text import Text

from jobs import render
from jobs.cli.batch_cmds import report_bad_file
from jobs.cli.context import CliContext
from jobs.cli.options import budget_ceiling, budget_option, notify_option
from jobs.cli.output import echo_json
from jobs.models import FiringState, MissedPolicy, OverlapPolicy
from jobs.service.batch_file import BatchFileError
from jobs.service.batches import SubmitReport

pass_ctx = click.make_pass_decorator(CliContext)


@click.group()
def schedule() -> None:
    """Fire a batch file on a cron schedule (the worker fires it, once, whoever runs)."""


def _schedule_dict(ctx: CliContext, sched) -> dict:
    service = ctx.app.service
    upcoming = service.schedules.upcoming(sched, 1)
    last = service.schedules.store.last_firing(sched.id)
    return {
        "name": sched.name,
        "cron": sched.cron,
        "timezone": sched.timezone,
        "file": sched.file,
        "missed": sched.missed,
        "grace_seconds": sched.grace_seconds,
        "overlap": sched.overlap,
        "notify": sched.notify,
        "paused": sched.paused,
        "next_fire": upcoming[0].isoformat() if upcoming else None,
        "last_firing": _firing_dict(last) if last else None,
    }


def _firing_dict(firing) -> dict:
    return {
        "fire_time": firing.fire_time.isoformat().replace("+00:00", "Z"),
        "decided_at": firing.decided_at.isoformat().replace("+00:00", "Z"),
        "state": firing.state,
        "batch_id": firing.batch_id,
        "worker": firing.worker,
        "detail": firing.detail,
    }


@schedule.command("add")
@click.argument("name")
@click.option("--cron", required=True, help='Cron expression, e.g. "0 2 * * *" (five fields).')
@click.option("--file", "file", required=True, help="Batch file, read at each firing.")
@click.option("--tz", "timezone", default="UTC", show_default=True, help="Zone of the cron times.")
@click.option(
    "--missed",
    type=click.Choice([p.value for p in MissedPolicy]),
    default=MissedPolicy.SKIP.value,
    show_default=True,
    help="A firing no worker saw on time: skip it, or run it once late (within --grace).",
)
@click.option(
    "--grace", type=click.IntRange(min=0), default=3600, show_default=True, help="Seconds."
)
@click.option(
    "--overlap",
    type=click.Choice([p.value for p in OverlapPolicy]),
    default=OverlapPolicy.SKIP.value,
    show_default=True,
    help="When the previous firing's batch still runs.",
)
@notify_option("Command or URL run when each firing's batch ends.")
@budget_option(
    "Each firing sends no more lines once it used this much: tokens (50k) or dollars ($5)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the schedule as JSON.")
@pass_ctx
def schedule_add(
    ctx: CliContext,
    name: str,
    cron: str,
    file: str,
    timezone: str,
    missed: str,
    grace: int,
    overlap: str,
    notify: str | None,
    budgets: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add a schedule that runs FILE as a batch at each cron time."""
    service = ctx.app.service
    ceiling = budget_ceiling(ctx, budgets, ctx.settings["defaults.model"])
    try:
        sched = service.schedules.add(
            name,
            cron=cron,
            file=file,
            timezone=timezone,
            missed=missed,
            grace=grace,
            overlap=overlap,
            notify=notify,
        )
    except BatchFileError as exc:
        report_bad_file(exc)
    if ceiling is not None:
        service.budgets.set("schedule", sched.id, ceiling)
    if as_json:
        echo_json(_schedule_dict(ctx, sched))
        return
    upcoming = service.schedules.upcoming(sched, 1)
    ctx.console.print(
        f"schedule {sched.name}: {sched.cron} ({sched.timezone}), next "
        + (f"{upcoming[0]:%Y-%m-%d %H:%M %Z}" if upcoming else "never"),
        soft_wrap=True,
    )
    ctx.err_console.print("`gjobs worker` fires it (see `gjobs schedule history`)", style="dim")


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def schedule_list(ctx: CliContext, as_json: bool) -> None:
    """List schedules with their next fire time (in each schedule's zone)."""
    schedules = ctx.app.service.schedules.list()
    if as_json:
        echo_json([_schedule_dict(ctx, s) for s in schedules])
        return
    if not schedules:
        ctx.err_console.print("no schedules: `gjobs schedule add NAME --cron ... --file ...`")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "cron", "zone", "next", "last", "file"):
        table.add_column(column)
    for s in schedules:
        data = _schedule_dict(ctx, s)
        upcoming = ctx.app.service.schedules.upcoming(s, 1)
        last = data["last_firing"]
        table.add_row(
            Text(s.name),
            s.cron,
            s.timezone,
            "paused" if s.paused else (f"{upcoming[0]:%Y-%m-%d %H:%M %Z}" if upcoming else "-"),
            f"{last['state']} {last['fire_time']}" if last else "-",
            Text(s.file),
        )
    ctx.console.print(table)


@schedule.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the schedule as JSON.")
@pass_ctx
def schedule_show(ctx: CliContext, name: str, as_json: bool) -> None:
    """Show a schedule, its next fire times and its last firings."""
    service = ctx.app.service
    sched = service.schedules.get(name)
    if as_json:
        data = _schedule_dict(ctx, sched)
        data["upcoming"] = [t.isoformat() for t in service.schedules.upcoming(sched, 5)]
        echo_json(data)
        return
    ctx.console.print(
        Text(
            f"{sched.name}: {sched.cron} ({sched.timezone})" + ("  paused" if sched.paused else "")
        ),
        soft_wrap=True,
    )
    ctx.console.print(Text(f"file {sched.file}"), soft_wrap=True)
    ctx.console.print(
        f"missed: {sched.missed} (grace {sched.grace_seconds}s)  overlap: {sched.overlap}"
        + (f"  notify: {sched.notify}" if sched.notify else "")
    )
    for moment in service.schedules.upcoming(sched, 5):
        ctx.console.print(f"  next {moment:%Y-%m-%d %H:%M %Z}")
    _print_history(ctx, service.schedules.history(name, 5)[1])


def _print_history(ctx: CliContext, firings) -> None:
    styles = {"fired": "green", "late": "yellow", "failed": "red", "missed": "yellow"}
    for f in firings:
        line = Text(f"{f.fire_time:%Y-%m-%d %H:%M:%S}Z  ")
        line.append(f"{f.state:<7}", style=styles.get(f.state, ""))
        if f.batch_id:
            line.append(f"  batch {f.batch_id}")
        line.append(f"  by {f.worker}", style="dim")
        if f.detail:
            line.append(f"  {render.safe_text(f.detail)}")
        ctx.console.print(line, soft_wrap=True)


@schedule.command("pause")
@click.argument("name")
@pass_ctx
def schedule_pause(ctx: CliContext, name: str) -> None:
    """Stop firing a schedule until `schedule resume`."""
    sched = ctx.app.service.schedules.pause(name)
    ctx.console.print(f"schedule {sched.name} paused")


@schedule.command("resume")
@click.argument("name")
@pass_ctx
def schedule_resume(ctx: CliContext, name: str) -> None:
    """Fire a paused schedule again, from its next fire time on."""
    service = ctx.app.service
    sched = service.schedules.resume(name)
    upcoming = service.schedules.upcoming(sched, 1)
    ctx.console.print(
        f"schedule {sched.name} resumed, next "
        + (f"{upcoming[0]:%Y-%m-%d %H:%M %Z}" if upcoming else "never")
    )


@schedule.command("remove")
@click.argument("name")
@pass_ctx
def schedule_remove(ctx: CliContext, name: str) -> None:
    """Remove a schedule and its history (its batches and jobs stay)."""
    ctx.app.service.schedules.remove(name)
    ctx.console.print(f"schedule {name} removed")


@schedule.command("run-now")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the firing as JSON.")
@pass_ctx
def schedule_run_now(ctx: CliContext, name: str, as_json: bool) -> None:
    """Fire a schedule once now (its file as it is now), and send the batch."""
    service = ctx.app.service
    firing = service.schedules.run_now(name)
    if firing.state == FiringState.FAILED.value:
        if as_json:
            echo_json(_firing_dict(firing))
        click.echo(f"error: firing failed: {firing.detail}", err=True)
        sys.exit(1)
    report = service.batches.submit_pending(firing.batch_id) if firing.batch_id else SubmitReport()
    if as_json:
        data = _firing_dict(firing)
        data["submit"] = {"sent": report.sent, "left_pending": report.left_pending}
        echo_json(data)
        return
    ctx.console.print(f"schedule {name} fired: batch {firing.batch_id}, {report.sent} sent")


@schedule.command("history")
@click.argument("name")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def schedule_history(ctx: CliContext, name: str, limit: int, as_json: bool) -> None:
    """What happened at each fire time (fired, late, missed, skipped, queued, failed), newest first."""
    _sched, firings = ctx.app.service.schedules.history(name, limit)
    if as_json:
        echo_json([_firing_dict(f) for f in firings])
        return
    if not firings:
        ctx.err_console.print("no firings yet")
        return
    _print_history(ctx, firings)


COMMANDS = (schedule,)
