"""`batch` commands: a file of prompts run as jobs (on a cron schedule: schedule_cmds).

`batch submit` records the whole file first (nothing is sent if any line is bad), then sends the
lines itself at the configured concurrency and rate and returns; the worker (or `gjobs poll
--once`) records the results. `--wait` follows the batch to its end; `--detach` only records and
leaves the sending to the worker. Exit codes: 0 all completed (or, without --wait, all sent so far
without a failure), 1 some did not, 2 usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from jobs import render
from jobs.cli.context import CliContext
from jobs.cli.options import budget_ceiling, budget_option, notify_option
from jobs.cli.output import echo_json
from jobs.errors import UsageError
from jobs.service import SubmitSpec, parse_labels
from jobs.service.batch_file import BatchFileError, parse_batch
from jobs.service.batches import BatchSummary, SubmitReport, batch_dict

pass_ctx = click.make_pass_decorator(CliContext)


def _read_source(file: str) -> tuple[bytes, str]:
    if file == "-":
        return sys.stdin.buffer.read(), "-"
    path = Path(file).expanduser()
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise UsageError(f"{file} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{file} is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or exc}") from None


def report_bad_file(exc: BatchFileError) -> None:
    """Every bad line, one `error:` line each, then the verdict; exit 2."""
    for error in exc.errors:
        click.echo(f"error: {exc.source} {error}", err=True)
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def _summary_line(summary: BatchSummary, elapsed: float | None = None) -> Text:
    counts = summary.counts
    line = Text(f"batch {summary.batch.id} ", style="bold")
    line.append(f"{summary.batch.name}: ")
    parts = [f"{counts.completed}/{counts.total} completed"]
    if counts.running:
        parts.append(f"{counts.running} running")
    pending = counts.by_status.get("pending", 0)
    if pending:
        parts.append(f"{pending} pending")
    if counts.not_completed:
        parts.append(f"{counts.not_completed} not completed")
    parts.append(f"{render.human_tokens(counts.total_tokens)} tokens")
    if elapsed is not None:
        parts.append(render.human_duration(elapsed))
    line.append(", ".join(parts))
    return line


# -- batch --------------------------------------------------------------------------------------------


@click.group()
def batch() -> None:
    """Run a file of prompts as jobs (JSON Lines or one prompt per line)."""


@batch.command("submit")
@click.argument("file")
@click.option("--name", help="The batch's name (default: the file's path). Same name = same batch.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "text"]),
    default="auto",
    show_default=True,
    help="How to read FILE.",
)
@click.option("-m", "--model", help="Model for lines that name none.")
@click.option("-a", "--agent", help="Agent for lines that name neither model nor agent.")
@click.option("-s", "--system", help="System instruction for lines without one.")
@click.option("-l", "--label", "labels", multiple=True, help="key=value label on every line.")
@click.option(
    "--service-tier", type=click.Choice(["flex", "standard", "priority", "deferred"]), help="Tier."
)
@notify_option("Command (JSON on stdin) or URL (signed POST) run when it ends.")
@click.option(
    "--concurrency", type=click.IntRange(min=1), help="Creates in flight (batch.concurrency)."
)
@click.option(
    "--rate", type=click.FloatRange(min=0), help="Creates per second at most (batch.rate)."
)
@budget_option("Send no more lines once the batch used this much: tokens (50k) or dollars ($5).")
@click.option("--detach", is_flag=True, help="Only record; the worker sends the lines.")
@click.option(
    "--wait", is_flag=True, help="Follow the batch to its end; exit 0 only if all completed."
)
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@pass_ctx
def batch_submit(
    ctx: CliContext,
    file: str,
    name: str | None,
    fmt: str,
    model: str | None,
    agent: str | None,
    system: str | None,
    labels: tuple[str, ...],
    service_tier: str | None,
    notify: str | None,
    concurrency: int | None,
    rate: float | None,
    budgets: tuple[str, ...],
    detach: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """Record a file of prompts as a batch of jobs, then send them."""
    if detach and wait:
        raise UsageError("choose --detach or --wait, not both")
    if model and agent:
        raise UsageError("give either --model or --agent, not both")
    defaults = SubmitSpec(
        prompt="",
        model=model,
        agent=agent,
        system=system,
        labels=parse_labels(labels),
        service_tier=service_tier,
    )
    raw, source = _read_source(file)
    try:  # before the store is even opened: a bad file leaves no trace
        parsed = parse_batch(raw, source=source, fmt=fmt, defaults=defaults)
    except BatchFileError as exc:
        report_bad_file(exc)
    service = ctx.app.service
    if notify is not None:
        notify = service.notify.check_target(notify)
    elif service.notify.default_target():
        service.notify.check_target(service.notify.default_target() or "")
    if name is None:
        name = (
            f"stdin-{parsed.content_hash[:12]}" if source == "-" else str(Path(source).absolute())
        )
    if not detach and not service.settings.api_key:
        service.gateway_ready()  # no key: say so before recording anything
    ceiling = budget_ceiling(ctx, budgets, agent or model or ctx.settings["defaults.model"])
    started = ctx.clock.monotonic()
    recorded = service.batches.record(parsed, name=name, notify=notify)
    assert recorded is not None
    batch_id = recorded.batch.id
    if ceiling is not None:
        service.budgets.set("batch", batch_id, ceiling)
    if not as_json and ctx.err_console.is_terminal:  # else: one summary line at the end
        already = (
            f", {recorded.already} already recorded (not sent again)" if recorded.already else ""
        )
        ctx.err_console.print(
            f"batch {batch_id} {name}: {recorded.added} new line(s) recorded{already}",
            soft_wrap=True,
        )
    _send_and_finish(ctx, batch_id, detach, wait, as_json, started, concurrency, rate, recorded)


def _send_and_finish(
    ctx: CliContext,
    batch_id: str,
    detach: bool,
    wait: bool,
    as_json: bool,
    started: float,
    concurrency: int | None = None,
    rate: float | None = None,
    recorded=None,
) -> None:
    service = ctx.app.service
    report = SubmitReport()
    if not detach:
        report = _submit_with_progress(ctx, batch_id, concurrency, rate, quiet=as_json)
    if wait:
        summary = _wait_with_progress(ctx, batch_id, started, quiet=as_json)
    else:
        summary = service.batches.summary(batch_id)
    if as_json:
        data = batch_dict(summary)
        if recorded is not None:
            data["recorded"] = {"added": recorded.added, "already": recorded.already}
        data["submit"] = {
            "sent": report.sent,
            "left_pending": report.left_pending,
            "failed": report.failed,
            "error": report.error,
        }
        echo_json(data)
    else:
        tty = ctx.err_console.is_terminal
        left = f", {report.left_pending} left for the worker" if report.left_pending else ""
        sent = f"sent {report.sent}, refused or unknown {report.failed}{left}"
        if tty and not detach and not wait:
            ctx.err_console.print(sent, soft_wrap=True)
        line = _summary_line(summary, ctx.clock.monotonic() - started if wait else None)
        if not tty:  # cron mails what is printed: one line says it all
            parts = []
            if recorded is not None:
                parts.append(f"{recorded.added} new, {recorded.already} already recorded")
            if not detach:
                parts.append(sent)
            if parts:
                line.append(f" ({'; '.join(parts)})")
        ctx.console.print(line, soft_wrap=True)
        for line, job in summary.failures[:10]:
            ctx.err_console.print(
                Text(f"  line {line.line_no} {job.id} {job.status}: ")
                + Text(render.safe_text(job.error_message or ""), style="red")
            )
        if report.error:
            ctx.err_console.print(Text(render.safe_text(report.error), style="red"))
        if tty and not wait and summary.counts.live:
            from jobs.doctor import alive_workers

            if not alive_workers(ctx.app):
                ctx.err_console.print(
                    "no worker is running: `gjobs worker` records the results "
                    "(or `gjobs poll --once` from cron)",
                    style="dim",
                    soft_wrap=True,
                )
    if wait:
        sys.exit(0 if summary.all_completed else 1)
    sys.exit(1 if (summary.counts.not_completed or report.failed or report.error) else 0)


def _submit_with_progress(
    ctx: CliContext, batch_id: str, concurrency: int | None, rate: float | None, *, quiet: bool
) -> SubmitReport:
    service = ctx.app.service
    if quiet or not ctx.err_console.is_terminal:
        return service.batches.submit_pending(batch_id, concurrency=concurrency, rate=rate)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "sending",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=ctx.err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("send", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return service.batches.submit_pending(
            batch_id, concurrency=concurrency, rate=rate, on_progress=update
        )


def _wait_with_progress(
    ctx: CliContext, batch_id: str, started: float, *, quiet: bool
) -> BatchSummary:
    """Follow to the end: a live line on a TTY (done, running, failed, tokens, elapsed, estimate)."""
    service = ctx.app.service
    if quiet or not ctx.err_console.is_terminal:
        return service.batches.wait(batch_id)
    from rich.live import Live

    def line(summary: BatchSummary) -> Text:
        elapsed = ctx.clock.monotonic() - started
        counts = summary.counts
        ended = counts.total - counts.live
        text = Text(
            f"done {counts.completed}  running {counts.running}  failed {counts.not_completed}  "
            f"pending {counts.by_status.get('pending', 0)}  tokens "
            f"{render.human_tokens(counts.total_tokens)}  elapsed {render.human_duration(elapsed)}"
        )
        if ended and counts.live:
            # The pace so far (sending included): rough, and said to be.
            left = elapsed * counts.live / ended
            text.append(f"  about {render.human_duration(left)} left", style="dim")
        elif counts.live:
            text.append("  estimate after the first results", style="dim")
        return text

    try:
        with Live(Text("following the batch..."), console=ctx.err_console, transient=True) as live:
            return service.batches.wait(batch_id, on_update=lambda s: live.update(line(s)))
    except KeyboardInterrupt:
        ctx.err_console.print(
            f"stopped following {batch_id}; it goes on (`gjobs batch show {batch_id}`)"
        )
        sys.exit(130)


@batch.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def batch_list(ctx: CliContext, limit: int, as_json: bool) -> None:
    """List batches, newest first, with their lines' progress."""
    service = ctx.app.service
    rows = service.batches.list(limit=limit)
    if as_json:
        echo_json([batch_dict(BatchSummary(b, c)) for b, c in rows])
        return
    if not rows:
        ctx.err_console.print("no batches yet: `gjobs batch submit FILE` records one")
        return
    table = Table(box=None, pad_edge=False)
    for column in (
        "id",
        "name",
        "lines",
        "completed",
        "live",
        "not completed",
        "tokens",
        "created",
    ):
        table.add_column(column)
    for b, c in rows:
        table.add_row(
            b.id,
            Text(render.safe_text(b.name)),
            str(c.total),
            str(c.completed),
            str(c.live),
            str(c.not_completed),
            render.human_tokens(c.total_tokens),
            f"{b.created_at:%Y-%m-%d %H:%M}",
        )
    ctx.console.print(table)


@batch.command("show")
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@pass_ctx
def batch_show(ctx: CliContext, batch_id: str, as_json: bool) -> None:
    """Show a batch: counts by status, tokens, failures with their errors, its notification."""
    service = ctx.app.service
    summary = service.batches.summary(batch_id)
    notification = service.notify.for_subject("batch", summary.batch.id)
    if as_json:
        data = batch_dict(summary)
        data["notification"] = _notification_dict(notification)
        echo_json(data)
        return
    b = summary.batch
    ctx.console.print(_summary_line(summary), soft_wrap=True)
    ctx.console.print(
        Text(
            f"source {render.safe_text(b.source)}  sha256 {b.content_hash[:16]}  lines {b.line_count}"
        ),
        soft_wrap=True,
    )
    ctx.console.print(
        "by status: " + ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.by_status.items()))
    )
    if b.cancelled_at:
        ctx.console.print(f"cancelled at {b.cancelled_at:%Y-%m-%d %H:%M:%S} UTC")
    if notification is not None:
        ctx.console.print(_notification_text(notification))
    for line, job in summary.failures:
        ctx.console.print(
            Text(f"line {line.line_no} {job.id} {job.status}: ")
            + Text(render.safe_text(job.error_message or ""), style="red")
        )
    if summary.counts.not_completed:
        ctx.err_console.print(
            f"`gjobs batch retry {b.id}` sends the failed lines again", style="dim"
        )


@batch.command("cancel")
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@pass_ctx
def batch_cancel(ctx: CliContext, batch_id: str, as_json: bool) -> None:
    """Cancel every line still live (unsent ones here; running ones with one remote cancel each)."""
    summary = ctx.app.service.batches.cancel(batch_id)
    if as_json:
        echo_json(batch_dict(summary))
        return
    ctx.console.print(_summary_line(summary), soft_wrap=True)
    if summary.counts.live:
        ctx.err_console.print("cancel requested; the worker records the final statuses")


@batch.command("retry")
@click.argument("batch_id")
@click.option(
    "--unknown", "include_unknown", is_flag=True, help="Also submit_unknown lines (may pay twice)."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait", is_flag=True, help="Follow the batch to its end.")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@pass_ctx
def batch_retry(
    ctx: CliContext, batch_id: str, include_unknown: bool, yes: bool, wait: bool, as_json: bool
) -> None:
    """Send the lines that ended without completing again, as new jobs."""
    service = ctx.app.service
    summary = service.batches.summary(batch_id)
    if include_unknown and not yes:
        unknown = summary.counts.by_status.get("submit_unknown", 0)
        if unknown and not click.confirm(
            f"{unknown} submit_unknown line(s) may already run on the API; sending them again is "
            "billed again. Retry them?",
            default=False,
            err=True,
        ):
            click.echo("not retried", err=True)
            sys.exit(1)
    service.gateway_ready()
    started = ctx.clock.monotonic()
    created = service.batches.retry(summary.batch.id, include_unknown=include_unknown)
    if not as_json and ctx.err_console.is_terminal:
        ctx.err_console.print(f"batch {summary.batch.id}: {len(created)} line(s) get a new job")
    _send_and_finish(ctx, summary.batch.id, False, wait, as_json, started)


@batch.command("resume")
@click.argument("batch_id")
@click.option("--wait", is_flag=True, help="Follow the batch to its end.")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@pass_ctx
def batch_resume(ctx: CliContext, batch_id: str, wait: bool, as_json: bool) -> None:
    """Send the batch's lines that were recorded but not sent yet (never one twice)."""
    service = ctx.app.service
    batch_row = service.batches.get(batch_id)
    started = ctx.clock.monotonic()
    _send_and_finish(ctx, batch_row.id, False, wait, as_json, started)


# -- notifications, shown by `show` and `batch show` ----------------------------------------------


def _notification_dict(notification) -> dict | None:
    if notification is None:
        return None
    return {
        "target": notification.target,
        "state": notification.state,
        "detail": notification.detail,
        "finished_at": notification.finished_at.isoformat().replace("+00:00", "Z")
        if notification.finished_at
        else None,
    }


def _notification_text(notification) -> Text:
    style = {"failed": "red", "sent": "green"}.get(notification.state, "dim")
    text = Text("notify ")
    text.append(notification.state, style=style)
    text.append(f"  {render.safe_text(notification.target)}", style="dim")
    if notification.detail:
        text.append(f"  {render.safe_text(notification.detail[:300])}")
    return text


def job_extras(ctx: CliContext, job_id: str) -> tuple[Text | None, dict]:
    """What `jobs show` adds for a job of a batch or with a hook (text, JSON fields)."""
    service = ctx.app.service
    line = service.batches.store.line_of_job(job_id)
    notification = service.notify.for_subject("job", job_id)
    parts: list[Text] = []
    data: dict = {}
    if line is not None:
        parts.append(Text(f"batch {line.batch_id} line {line.line_no}"))
        data["batch"] = {"id": line.batch_id, "line": line.line_no, "line_key": line.line_key}
    if notification is not None:
        parts.append(_notification_text(notification))
        data["notification"] = _notification_dict(notification)
    return (Text("\n").join(parts) if parts else None), data


COMMANDS = (batch,)
