"""Commands about jobs: submit, list, show, cancel, delete, resubmit."""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.text import Text

from jobs import render
from jobs.cli.context import CliContext
from jobs.errors import UsageError
from jobs.models import Job, JobStatus
from jobs.service import SubmitSpec, parse_labels
from jobs.store import JobFilter

pass_ctx = click.make_pass_decorator(CliContext)


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.command()
@click.argument("prompt", required=False)
@click.option("--file", "prompt_file", type=click.Path(dir_okay=False, path_type=Path), help="Read the prompt from a file.")
@click.option("-m", "--model", help="Model to run (default from config: defaults.model).")
@click.option("-a", "--agent", help="Agent to run instead of a model, e.g. deep-research-preview-04-2026.")
@click.option("--research", is_flag=True, help="Shorthand for --agent with the configured Deep Research agent.")
@click.option("-s", "--system", help="System instruction.")
@click.option("-l", "--label", "labels", multiple=True, help="key=value label (repeatable).")
@click.option("-c", "--continue", "continue_job", metavar="JOB", help="Next turn of JOB's conversation.")
@click.option("--wait", is_flag=True, help="Follow the job until it ends; exit non-zero unless completed.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@pass_ctx
def submit(
    ctx: CliContext, prompt: str | None, prompt_file: Path | None, model: str | None, agent: str | None,
    research: bool, system: str | None, labels: tuple[str, ...], continue_job: str | None, wait: bool,
    as_json: bool,
) -> None:
    """Start a background interaction and record it (PROMPT, '-' for stdin, or --file)."""
    text = _read_prompt(prompt, prompt_file)
    if research:
        if agent or model:
            raise UsageError("--research picks the agent; do not combine it with --model or --agent")
        agent = ctx.settings["defaults.agent"]
    spec = SubmitSpec(prompt=text, model=model, agent=agent, system=system, labels=parse_labels(labels), continue_job=continue_job)
    if spec.model and spec.agent:
        raise UsageError("give either --model or --agent, not both")
    service = ctx.app.service
    job = service.submit_new(spec)
    if wait:
        if not as_json:
            _print_submitted(ctx, job)
        job = service.wait(job.id, on_update=None if as_json else lambda j: ctx.err_console.print(
            Text(f"{j.id}: "), render.status_text(j)))
    if as_json:
        _echo_json(render.job_dict(job, service.store.labels_for([job.id])[job.id]))
    elif not wait:
        _print_submitted(ctx, job)
    else:
        result = service.get_result(job.id)
        if result and result.output_text:
            ctx.console.print(render.show_job(job, result, service.clock.now(), chain=[job], events=[], labels={}))
    if wait and job.job_status is not JobStatus.COMPLETED:
        sys.exit(1)


def _print_submitted(ctx: CliContext, job: Job) -> None:
    line = Text(f"{job.id} ")
    line.append_text(render.status_text(job))
    if job.interaction_id:
        line.append(f"  interaction {job.interaction_id}", style="dim")
    ctx.console.print(line)
    if job.job_status is JobStatus.PENDING and job.parent_job_id:
        ctx.err_console.print(f"waits for {job.parent_job_id} to finish; `jobs worker` submits it then")
    elif job.job_status is JobStatus.PENDING:
        ctx.err_console.print(Text(f"not sent yet: {render.safe_text(job.error_message)}; `jobs worker` retries it"))
    elif job.job_status is JobStatus.SUBMIT_UNKNOWN:
        ctx.err_console.print(Text(render.safe_text(job.error_message)))
    elif job.job_status is JobStatus.FAILED:
        ctx.err_console.print(Text(render.safe_text(job.error_message), style="red"))
        sys.exit(1)


def _read_prompt(prompt: str | None, prompt_file: Path | None) -> str:
    if prompt_file is not None and prompt is not None:
        raise UsageError("give the prompt as an argument or with --file, not both")
    if prompt_file is not None:
        try:
            text = prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {prompt_file}: {getattr(exc, 'strerror', None) or exc}") from None
    elif prompt == "-":
        text = sys.stdin.read()
    elif prompt is None:
        raise UsageError("missing prompt: give it as an argument, '-' for stdin, or --file PATH")
    else:
        text = prompt
    if not text.strip():
        raise UsageError("the prompt is empty")
    return text


_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_since(value: str, now: datetime) -> datetime:
    """`30m`, `2h`, `7d`, `1w`, or an ISO date/time (UTC unless it says otherwise)."""
    match = _SINCE.match(value.strip().lower())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"bad --since {value!r}: use e.g. 30m, 2h, 7d or 2026-11-20") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _statuses(values: tuple[str, ...]) -> list[str]:
    wanted = [s.strip().lower() for v in values for s in v.split(",") if s.strip()]
    known = {s.value for s in JobStatus}
    for status in wanted:
        if status not in known:
            raise UsageError(f"unknown status {status!r}; choose from: {', '.join(sorted(known))}")
    return wanted


@click.command("list")
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeat or comma-separate).")
@click.option("-l", "--label", "labels", multiple=True, help="Only jobs with this key=value label.")
@click.option("--since", help="Only jobs created since, e.g. 2h, 7d, 2026-11-20.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many jobs.")
@click.option("-q", "--search", help="Only jobs whose prompt contains this text.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("-w", "--watch", is_flag=True, help="Refresh the table until Ctrl-C.")
@pass_ctx
def list_jobs(
    ctx: CliContext, statuses: tuple[str, ...], labels: tuple[str, ...], since: str | None, limit: int,
    search: str | None, as_json: bool, watch: bool,
) -> None:
    """List jobs, newest first."""
    service = ctx.app.service
    filt = JobFilter(
        statuses=_statuses(statuses), labels=parse_labels(labels) if labels else None,
        since=parse_since(since, service.clock.now()) if since else None, limit=limit, search=search,
    )
    if as_json:
        jobs = service.list_jobs(filt)
        all_labels = service.store.labels_for(j.id for j in jobs)
        _echo_json([render.job_dict(j, all_labels[j.id]) for j in jobs])
        return
    if not watch:
        jobs = service.list_jobs(filt)
        if not jobs:
            ctx.err_console.print("no jobs yet: `jobs submit \"...\"` starts one, `jobs demo` shows a tour")
            return
        ctx.console.print(render.jobs_table(jobs, service.clock.now()))
        return
    from rich.live import Live

    def table():
        return render.jobs_table(service.list_jobs(filt), service.clock.now(), title="jobs (Ctrl-C to stop)")

    try:
        with Live(table(), console=ctx.console, refresh_per_second=2, transient=False) as live:
            while True:
                time.sleep(1.0)
                live.update(table())
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("job_id")
@click.option("-t", "--thoughts", is_flag=True, help="Also print the thought summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--raw", is_flag=True, help="Print only the output text, byte-exact (for pipes).")
@pass_ctx
def show(ctx: CliContext, job_id: str, thoughts: bool, as_json: bool, raw: bool) -> None:
    """Show a job: output, usage, timings, the conversation it belongs to."""
    if as_json and raw:
        raise UsageError("choose --json or --raw, not both")
    service = ctx.app.service
    job = service.get_job(job_id)
    result = service.get_result(job.id)
    if raw:
        if result is None:
            raise UsageError(f"job {job.id} is {job.status}: no output yet")
        sys.stdout.buffer.write(result.output_text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return
    labels = service.store.labels_for([job.id])[job.id]
    events = service.store.events_for(job.id)
    if as_json:
        _echo_json(render.job_detail_dict(job, result, labels, events))
        return
    ctx.console.print(
        render.show_job(job, result, service.clock.now(), chain=service.chain(job), events=events, labels=labels, thoughts=thoughts)
    )


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@pass_ctx
def cancel(ctx: CliContext, job_id: str, as_json: bool) -> None:
    """Cancel a job (one remote cancel; the final status comes from the server)."""
    service = ctx.app.service
    job = service.cancel(job_id)
    if as_json:
        _echo_json(render.job_dict(job))
        return
    line = Text(f"{job.id} ")
    line.append_text(render.status_text(job))
    ctx.console.print(line)
    if not job.job_status.is_terminal:
        ctx.err_console.print("cancel requested; the worker records the final status")


@click.command()
@click.argument("job_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--local-only", is_flag=True, help="Keep the interaction on the API; forget it here only.")
@pass_ctx
def delete(ctx: CliContext, job_id: str, yes: bool, local_only: bool) -> None:
    """Delete a job here and its stored interaction on the API."""
    service = ctx.app.service
    job = service.get_job(job_id)
    where = "here" if local_only or not job.interaction_id else "here and on the API"
    if not yes and not click.confirm(f"delete job {job.id} ({job.status}) {where}?", default=False, err=True):
        raise UsageError("not deleted")
    service.delete(job.id, remote=not local_only)
    ctx.console.print(f"deleted {job.id}")


@click.command()
@click.argument("job_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def resubmit(ctx: CliContext, job_id: str, yes: bool) -> None:
    """Submit a submit_unknown job again (it may then run, and cost, twice)."""
    service = ctx.app.service
    job = service.get_job(job_id)
    if job.job_status is not JobStatus.SUBMIT_UNKNOWN:
        raise UsageError(f"job {job.id} is {job.status}; only submit_unknown jobs can be resubmitted")
    warning = (
        f"job {job.id} may already exist on the API (its create was sent, but no reply was stored). "
        f"Resubmitting starts a new {job.target} run, which is billed again"
        + (" (Deep Research runs cost real money)" if job.agent else "")
        + ". Resubmit?"
    )
    if not yes and not click.confirm(warning, default=False, err=True):
        raise UsageError("not resubmitted")
    job = service.resubmit(job.id)
    _print_submitted(ctx, job)


COMMANDS = (submit, list_jobs, show, cancel, delete, resubmit)
