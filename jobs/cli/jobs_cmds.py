"""Commands about jobs: submit, list, show, cancel, delete, resubmit.

Output rules: results go to stdout (JSON only, with --json); progress, hints and errors go to
stderr, so `jobs submit --json ... | jq` and `jobs show --raw ID > out.md` stay clean.
"""

from __future__ import annotations

import json
import re
import sys
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

WATCH_INTERVAL = 1.0  # seconds between refreshes of `list --watch`


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _worker_hint(ctx: CliContext, job: Job) -> None:
    """A job that is still running only moves on when a worker polls it: say so if none runs."""
    from jobs.doctor import alive_workers

    if job.job_status.is_terminal or job.job_status is JobStatus.SUBMIT_UNKNOWN:
        return
    if not alive_workers(ctx.app):
        ctx.err_console.print(
            "no worker is running: `jobs worker` records the result (or `jobs poll --once`)",
            style="dim",
        )


@click.command()
@click.argument("prompt", required=False)
@click.option(
    "--file",
    "prompt_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the prompt from a file.",
)
@click.option("-m", "--model", help="Model to run (default from config: defaults.model).")
@click.option(
    "-a", "--agent", help="Agent to run instead of a model, e.g. deep-research-preview-04-2026."
)
@click.option(
    "--research",
    is_flag=True,
    help="Shorthand for --agent with the configured Deep Research agent.",
)
@click.option("-s", "--system", help="System instruction.")
@click.option("-l", "--label", "labels", multiple=True, help="key=value label (repeatable).")
@click.option(
    "-c",
    "--continue",
    "continue_job",
    metavar="JOB",
    help="Next turn of JOB's conversation (waits for JOB to finish).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Wait for the end, showing elapsed time and thought summaries; exit non-zero unless completed.",
)
@click.option(
    "--follow",
    "follow_live",
    is_flag=True,
    help="Submit, then follow it live (as `jobs follow`); exit non-zero unless completed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@pass_ctx
def submit(
    ctx: CliContext,
    prompt: str | None,
    prompt_file: Path | None,
    model: str | None,
    agent: str | None,
    research: bool,
    system: str | None,
    labels: tuple[str, ...],
    continue_job: str | None,
    wait: bool,
    follow_live: bool,
    as_json: bool,
) -> None:
    """Start a background interaction and record it (PROMPT, '-' for stdin, or --file)."""
    if research:
        if agent or model:
            raise UsageError(
                "--research picks the agent; do not combine it with --model or --agent"
            )
        agent = ctx.settings["defaults.agent"]
    parsed_labels = parse_labels(labels)
    text = _read_prompt(prompt, prompt_file)
    spec = SubmitSpec(
        prompt=text,
        model=model,
        agent=agent,
        system=system,
        labels=parsed_labels,
        continue_job=continue_job,
    )
    if follow_live and (wait or as_json):
        raise UsageError("--follow shows the job live; do not combine it with --wait or --json")
    service = ctx.app.service
    job = service.submit_new(spec)
    if follow_live:
        from jobs.cli.follow_cmds import follow_job

        _print_submitted(ctx, job, exit_on_failure=True)
        job = follow_job(ctx, job)
        if job.job_status is not JobStatus.COMPLETED:
            sys.exit(1)
        return
    if wait:
        if not as_json:
            _print_submitted(ctx, job, exit_on_failure=False)
        job = _follow(ctx, job)
        if as_json:
            _echo_json(_job_json(ctx, job))
        else:
            ctx.console.print(_show_renderable(ctx, job, thoughts=False))
        if job.job_status is not JobStatus.COMPLETED:
            sys.exit(1)
        return
    if as_json:
        _echo_json(_job_json(ctx, job))
        if job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
            sys.exit(1)
        return
    _print_submitted(ctx, job)
    _worker_hint(ctx, job)


def _follow(ctx: CliContext, job: Job) -> Job:
    """Wait for the job, with elapsed time, status changes and thought summaries on stderr as
    they arrive (from the journal); Ctrl-C stops following, not the job."""
    from jobs.cli.follow_cmds import follow_job

    return follow_job(ctx, job, answer=False, closing_line=False)


def _job_json(ctx: CliContext, job: Job) -> dict:
    return render.job_dict(job, ctx.app.store.labels_for([job.id])[job.id])


def _print_submitted(ctx: CliContext, job: Job, *, exit_on_failure: bool = True) -> None:
    line = Text(f"{job.id} ")
    line.append_text(render.status_text(job))
    if job.interaction_id:
        line.append(f"  interaction {job.interaction_id}", style="dim")
    ctx.console.print(line)
    if job.job_status is JobStatus.PENDING and job.parent_job_id:
        ctx.err_console.print(
            f"waits for {job.parent_job_id} to finish, then continues its conversation"
        )
    elif job.job_status is JobStatus.PENDING:
        ctx.err_console.print(
            Text(f"not sent yet: {render.safe_text(job.error_message)}; `jobs worker` retries it")
        )
    elif job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
        ctx.err_console.print(Text(render.safe_text(job.error_message), style="red"))
        if exit_on_failure:
            sys.exit(1)


def _read_prompt(prompt: str | None, prompt_file: Path | None) -> str:
    if prompt_file is not None and prompt is not None:
        raise UsageError("give the prompt as an argument or with --file, not both")
    if prompt_file is not None:
        try:
            text = prompt_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"cannot read {prompt_file}: it is not UTF-8 text") from None
        except OSError as exc:
            raise UsageError(f"cannot read {prompt_file}: {exc.strerror or exc}") from None
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
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[
            match.group(2)
        ]
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
@click.option(
    "--status", "statuses", multiple=True, help="Only these statuses (repeat or comma-separate)."
)
@click.option(
    "-l",
    "--label",
    "labels",
    multiple=True,
    help="Only jobs with this key=value label (repeatable).",
)
@click.option("--since", help="Only jobs created since, e.g. 2h, 7d, 2026-11-20.")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many jobs.",
)
@click.option("-q", "--search", help="Only jobs whose prompt contains this text.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("-w", "--watch", is_flag=True, help="Refresh the table every second until Ctrl-C.")
@pass_ctx
def list_jobs(
    ctx: CliContext,
    statuses: tuple[str, ...],
    labels: tuple[str, ...],
    since: str | None,
    limit: int,
    search: str | None,
    as_json: bool,
    watch: bool,
) -> None:
    """List jobs, newest first."""
    if as_json and watch:
        raise UsageError("choose --json or --watch, not both")
    filt = JobFilter(
        statuses=_statuses(statuses),
        labels=parse_labels(labels) if labels else None,
        since=parse_since(since, ctx.clock.now()) if since else None,
        limit=limit,
        search=search,
    )
    service = ctx.app.service
    if as_json:
        jobs = service.list_jobs(filt)
        all_labels = service.store.labels_for(j.id for j in jobs)
        _echo_json([render.job_dict(j, all_labels[j.id]) for j in jobs])
        return
    if watch:
        _watch(ctx, filt)
        return
    jobs = service.list_jobs(filt)
    if jobs:
        ctx.console.print(render.jobs_table(jobs, service.clock.now()))
    elif statuses or labels or since or search:
        ctx.err_console.print("no jobs match")
    else:
        ctx.err_console.print(
            'no jobs yet: `jobs submit "..."` starts one, `jobs demo` shows a tour'
        )


def _watch(ctx: CliContext, filt: JobFilter) -> None:
    """A live table until Ctrl-C; it only reads the store (the worker moves the jobs on)."""
    from rich.live import Live

    service = ctx.app.service

    def table() -> render.JobsTable:
        return render.jobs_table(
            service.list_jobs(filt), service.clock.now(), title="jobs (Ctrl-C to stop)"
        )

    try:
        with Live(table(), console=ctx.console, refresh_per_second=4, transient=False) as live:
            while True:
                ctx.clock.sleep(WATCH_INTERVAL)
                live.update(table())
    except KeyboardInterrupt:
        pass


def _conversation(ctx: CliContext, job: Job) -> list[Job]:
    """The turns before this job (service.chain) and the follow-ups after it, oldest first."""
    service = ctx.app.service
    turns = service.chain(job)
    seen = {turn.id for turn in turns}
    current = job
    while True:
        children = [c for c in service.store.children_of(current.id) if c.id not in seen]
        if not children:
            return turns
        current = children[0]
        seen.add(current.id)
        turns.append(current)


def _show_renderable(ctx: CliContext, job: Job, *, thoughts: bool):
    service = ctx.app.service
    return render.show_job(
        job,
        service.get_result(job.id),
        service.clock.now(),
        chain=_conversation(ctx, job),
        events=service.store.events_for(job.id),
        labels=service.store.labels_for([job.id])[job.id],
        thoughts=thoughts,
    )


@click.command()
@click.argument("job_id")
@click.option("-t", "--thoughts", is_flag=True, help="Also print the thought summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--raw", is_flag=True, help="Print only the output text, byte-exact (for pipes).")
@click.option("--events", is_flag=True, help="List the job's event journal (what its stream said).")
@pass_ctx
def show(
    ctx: CliContext, job_id: str, thoughts: bool, as_json: bool, raw: bool, events: bool
) -> None:
    """Show a job: output, usage, timings, the conversation it belongs to."""
    if as_json and raw:
        raise UsageError("choose --json or --raw, not both")
    if events and raw:
        raise UsageError("choose --events or --raw, not both")
    service = ctx.app.service
    job = service.get_job(job_id)
    if events:
        from jobs.cli.follow_cmds import print_journal

        print_journal(ctx, job, as_json=as_json)
        return
    if raw:
        _print_raw(ctx, job)
        return
    if as_json:
        result = service.get_result(job.id)
        labels = service.store.labels_for([job.id])[job.id]
        _echo_json(render.job_detail_dict(job, result, labels, service.store.events_for(job.id)))
        return
    ctx.console.print(_show_renderable(ctx, job, thoughts=thoughts))
    _worker_hint(ctx, job)


def _print_raw(ctx: CliContext, job: Job) -> None:
    """The output text exactly as the API gave it: UTF-8, nothing added (no trailing newline)."""
    result = ctx.app.service.get_result(job.id)
    if result is None:
        raise UsageError(f"job {job.id} is {job.status}: it has no output yet")
    sys.stdout.flush()
    sys.stdout.buffer.write(result.output_text.encode("utf-8"))
    sys.stdout.buffer.flush()
    if job.job_status is not JobStatus.COMPLETED:
        click.echo(
            f"error: job {job.id} ended {job.status}; its output is partial or empty", err=True
        )
        sys.exit(1)


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@pass_ctx
def cancel(ctx: CliContext, job_id: str, as_json: bool) -> None:
    """Cancel a job (one remote cancel; the final status comes from the server)."""
    service = ctx.app.service
    before = service.get_job(job_id).job_status
    job = service.cancel(job_id)
    if as_json:
        _echo_json(_job_json(ctx, job))
        return
    line = Text(f"{job.id} ")
    line.append_text(render.status_text(job))
    ctx.console.print(line)
    if job.job_status is JobStatus.CANCELLED and before is JobStatus.SUBMIT_UNKNOWN:
        ctx.err_console.print(
            "cancelled here only: its create may have reached the API, and without an interaction "
            "id it cannot be cancelled there"
        )
    elif job.job_status is JobStatus.CANCELLED and not job.interaction_id:
        ctx.err_console.print("it was never sent, so nothing was cancelled on the API")
    elif not job.job_status.is_terminal:
        ctx.err_console.print("cancel requested; the worker records the final status")


@click.command()
@click.argument("job_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--local-only", is_flag=True, help="Keep the interaction on the API; forget it here only."
)
@pass_ctx
def delete(ctx: CliContext, job_id: str, yes: bool, local_only: bool) -> None:
    """Delete a job here and its stored interaction on the API."""
    service = ctx.app.service
    job = service.get_job(job_id)
    remote = not local_only and bool(job.interaction_id) and job.job_status is not JobStatus.EXPIRED
    where = "here and on the API" if remote else "here"
    running = (
        " (it is still running: it is cancelled first)"
        if remote and not job.job_status.is_terminal
        else ""
    )
    question = f"delete job {job.id} ({job.status}) {where}{running}?"
    if not yes and not click.confirm(question, default=False, err=True):
        click.echo("not deleted", err=True)
        sys.exit(1)
    service.delete(job.id, remote=not local_only)
    ctx.console.print(f"deleted {job.id} {where}")


@click.command()
@click.argument("job_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def resubmit(ctx: CliContext, job_id: str, yes: bool) -> None:
    """Submit a submit_unknown job again (it may then run, and cost, twice)."""
    service = ctx.app.service
    job = service.get_job(job_id)
    if job.job_status is not JobStatus.SUBMIT_UNKNOWN:
        raise UsageError(
            f"job {job.id} is {job.status}; only submit_unknown jobs can be resubmitted"
        )
    warning = (
        f"job {job.id} may already exist on the API (its create was sent, but no reply was stored). "
        f"Resubmitting starts a new {job.target} run, which is billed again"
        + (" (Deep Research runs cost real money)" if job.agent else "")
        + ". Resubmit?"
    )
    if yes:
        click.echo(warning.removesuffix(" Resubmit?"), err=True)
    elif not click.confirm(warning, default=False, err=True):
        click.echo("not resubmitted", err=True)
        sys.exit(1)
    job = service.resubmit(job.id)
    _print_submitted(ctx, job)
    _worker_hint(ctx, job)


COMMANDS = (submit, list_jobs, show, cancel, delete, resubmit)
