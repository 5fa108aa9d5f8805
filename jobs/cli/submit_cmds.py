"""Commands that send a job: submit, and resubmit (of a job whose create may have happened).

Output rules: results go to stdout (JSON only, with --json); progress, hints and errors go to
stderr, so `jobs submit --json ... | jq` stays clean.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from jobs import render
from jobs.cli.complete import complete_job_id
from jobs.cli.context import CliContext
from jobs.cli.jobs_cmds import confirm, job_json, show_renderable, worker_hint
from jobs.cli.options import budget_ceiling, budget_option, notify_option
from jobs.cli.output import echo_json
from jobs.errors import UsageError
from jobs.status import JobStatus

if TYPE_CHECKING:  # the write side (SQLModel, SQLAlchemy) is imported by the commands that use it
    from jobs.models import Job

pass_ctx = click.make_pass_decorator(CliContext)


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
    shell_complete=complete_job_id,
    help="Next turn of JOB's conversation (waits for JOB to finish); @last: the newest job.",
)
@click.option(
    "--branch",
    is_flag=True,
    help="With --continue: start a second line from a turn that already has a successor.",
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
@notify_option("Command (JSON on stdin) or URL (signed POST) run when it ends.")
@budget_option(
    "Cancel the job once it uses this much: tokens (50k) or dollars ($0.50); repeatable."
)
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only the job's id (for `id=$(gjobs submit -q ...)`)."
)
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
    branch: bool,
    wait: bool,
    follow_live: bool,
    notify: str | None,
    budgets: tuple[str, ...],
    as_json: bool,
    quiet: bool,
) -> None:
    """Start a background interaction and record it (PROMPT, '-' for stdin, or --file).

    With PROMPT and piped stdin, both are sent: PROMPT is the instruction, stdin the material
    after it. A lone '-' reads the whole prompt from stdin.

    \b
    Examples:
      gjobs submit "Explain in two sentences why the sky is blue."
      cat notes.md | gjobs submit "Summarise this"
      gjobs submit --research "How did background job queues evolve?" --label team=docs
      gjobs submit --continue @last "Now explain it to a five-year-old."
      id=$(gjobs submit -q "Name a colour.") && gjobs show "$id"
    """
    if quiet and as_json:
        raise UsageError("choose --json or --quiet, not both")
    from jobs.service import SubmitSpec, parse_labels

    if research:
        if agent or model:
            raise UsageError(
                "--research picks the agent; do not combine it with --model or --agent"
            )
        agent = ctx.settings["defaults.agent"]
    if branch and not continue_job:
        raise UsageError("--branch only goes with --continue JOB")
    parsed_labels = parse_labels(labels)
    ceiling = budget_ceiling(ctx, budgets, agent or model or ctx.settings["defaults.model"])
    text = _read_prompt(prompt, prompt_file)
    spec = SubmitSpec(
        prompt=text,
        model=model,
        agent=agent,
        system=system,
        labels=parsed_labels,
        continue_job=continue_job,
        branch=branch,
        budget=ceiling,
    )
    if follow_live and (wait or as_json):
        raise UsageError("--follow shows the job live; do not combine it with --wait or --json")
    service = ctx.app.service
    notify = service.notify.check_target(notify) if notify else service.notify.default_target()
    job = service.submit_new(spec)
    if notify:  # recorded before the job can end: the worker's pass runs it once when it does
        service.notify.attach("job", job.id, notify)
    if follow_live:
        from jobs.cli.follow_cmds import follow_job

        _print_submitted(ctx, job, exit_on_failure=True, stdout=False)
        job = follow_job(ctx, job)
        if job.job_status is not JobStatus.COMPLETED:
            sys.exit(1)
        return
    if wait:
        if not as_json:
            _print_submitted(ctx, job, exit_on_failure=False)
        job = _follow(ctx, job)
        if notify:
            service.notify.run_due(service.clock.now())
        if as_json:
            echo_json(job_json(ctx, job))
        else:
            ctx.console.print(show_renderable(ctx, job, thoughts=False))
        if job.job_status is not JobStatus.COMPLETED:
            sys.exit(1)
        return
    if as_json:
        echo_json(job_json(ctx, job))
        if job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
            sys.exit(1)
        return
    if quiet:
        click.echo(job.id)
        if job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
            ctx.err_console.print(Text(render.safe_text(job.error_message), style="red"))
            sys.exit(1)
        return
    _print_submitted(ctx, job)
    worker_hint(ctx, job)


def _follow(ctx: CliContext, job: Job) -> Job:
    """Wait for the job, with elapsed time, status changes and thought summaries on stderr as
    they arrive (from the journal); Ctrl-C stops following, not the job."""
    from jobs.cli.follow_cmds import follow_job

    return follow_job(ctx, job, answer=False, closing_line=False)


def _print_submitted(
    ctx: CliContext, job: Job, *, exit_on_failure: bool = True, stdout: bool = True
) -> None:
    """The job's id and status: on stdout, or on stderr when stdout carries the answer
    (`submit --follow > answer.md` is then the answer alone, as `follow` prints it)."""
    line = Text(f"{job.id} ")
    line.append_text(render.status_text(job))
    if job.interaction_id:
        line.append(f"  interaction {job.interaction_id}", style="dim")
    (ctx.console if stdout else ctx.err_console).print(line)
    if job.job_status is JobStatus.PENDING and job.parent_job_id:
        ctx.err_console.print(
            f"waits for {job.parent_job_id} to finish, then continues its conversation"
        )
    elif job.job_status is JobStatus.PENDING:
        ctx.err_console.print(
            Text(f"not sent yet: {render.safe_text(job.error_message)}; `gjobs worker` retries it")
        )
    elif job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
        ctx.err_console.print(Text(render.safe_text(job.error_message), style="red"))
        if exit_on_failure:
            sys.exit(1)


def _read_prompt(prompt: str | None, prompt_file: Path | None) -> str:
    """The prompt: an argument, '-' (stdin alone), --file; an argument with piped stdin sends both
    (the argument is the instruction, stdin the material: `cat notes.md | gjobs submit "Sum up"`)."""
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
        text = _read_stdin()
    elif prompt is None:
        raise UsageError("missing prompt: give it as an argument, '-' for stdin, or --file PATH")
    else:
        material = _read_stdin() if _stdin_is_piped() else ""
        text = f"{prompt}\n\n{material}" if _has_text(material) else prompt
    if not _has_text(text):
        raise UsageError("the prompt is empty")
    return text


def _has_text(text: str) -> bool:
    """`text.strip()` without its copy (a 50 MB prompt would cost 50 MB more)."""
    return bool(text) and not text.isspace()


def _stdin_is_piped() -> bool:
    """True when stdin is a pipe or a file (`cat x | ...`, `< x`), never for a terminal or
    /dev/null: a command run from cron or a script must not wait for input nobody sends."""
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return not sys.stdin.isatty()  # no file descriptor: a test's in-memory stdin
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _read_stdin() -> str:
    """stdin as UTF-8 text; anything else is one clear error (as --file says it)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return sys.stdin.read()
    try:
        return stream.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"cannot read stdin: it is not UTF-8 text (byte {exc.start + 1} is 0x{exc.object[exc.start]:02x})"
        ) from None


@click.command()
@click.argument("job_id", shell_complete=complete_job_id)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the new submission as JSON.")
@pass_ctx
def resubmit(ctx: CliContext, job_id: str, yes: bool, as_json: bool) -> None:
    """Submit a submit_unknown job again (it may then run, and cost, twice).

    \b
    Example:
      gjobs resubmit --yes 5zdwgf
    """
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
    else:
        confirm(warning, refused="not resubmitted")
    job = service.resubmit(job.id)
    if as_json:
        echo_json(job_json(ctx, job))
        if job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
            sys.exit(1)
        return
    _print_submitted(ctx, job)
    worker_hint(ctx, job)


COMMANDS = (submit, resubmit)
