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
from typing import TYPE_CHECKING

import click
from rich.text import Text

from jobs import render
from jobs.cli.complete import complete_job_id, complete_status
from jobs.cli.context import CliContext
from jobs.cli.output import page_if_long, print_plain_when_piped
from jobs.errors import JobsError, UsageError
from jobs.status import JobStatus

if TYPE_CHECKING:  # the write side (SQLModel, SQLAlchemy) is imported by the commands that use it
    from jobs.models import Job

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
            "no worker is running: `gjobs worker` records the result (or `gjobs poll --once`)",
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
@click.option("--notify", help="Command (JSON on stdin) or URL (signed POST) run when it ends.")
@click.option(
    "--budget",
    "budgets",
    multiple=True,
    metavar="LIMIT",
    help="Cancel the job once it uses this much: tokens (50k) or dollars ($0.50); repeatable.",
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
    ceiling = _budget(ctx, budgets, agent or model or ctx.settings["defaults.model"])
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
    if quiet:
        click.echo(job.id)
        if job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
            ctx.err_console.print(Text(render.safe_text(job.error_message), style="red"))
            sys.exit(1)
        return
    _print_submitted(ctx, job)
    _worker_hint(ctx, job)


def _budget(ctx: CliContext, values: tuple[str, ...], target: str):
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


def _follow(ctx: CliContext, job: Job) -> Job:
    """Wait for the job, with elapsed time, status changes and thought summaries on stderr as
    they arrive (from the journal); Ctrl-C stops following, not the job."""
    from jobs.cli.follow_cmds import follow_job

    return follow_job(ctx, job, answer=False, closing_line=False)


def _job_json(ctx: CliContext, job: Job) -> dict:
    return render.job_dict(job, ctx.app.store.labels_for([job.id])[job.id])


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


# The largest --limit a database takes as a bind parameter on every backend (a 64-bit integer):
# anything larger is a usage error, not an OverflowError from the driver.
MAX_LIST_LIMIT = 2**63 - 1
_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_since(value: str, now: datetime) -> datetime:
    """`30m`, `2h`, `7d`, `1w`, or an ISO date/time (UTC unless it says otherwise)."""
    match = _SINCE.match(value.strip().lower())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[
            match.group(2)
        ]
        try:
            return now - timedelta(**{unit: int(match.group(1))})
        except OverflowError:  # more than datetime can count back from now
            raise UsageError(
                f"bad --since {value!r}: that is before year 1; give a shorter span or a date"
            ) from None
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
    "--status",
    "statuses",
    multiple=True,
    shell_complete=complete_status,
    help="Only these statuses (repeat or comma-separate).",
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
    type=click.IntRange(min=1, max=MAX_LIST_LIMIT),
    default=50,
    show_default=True,
    help="At most this many jobs.",
)
@click.option(
    "-q",
    "--search",
    metavar="TEXT",
    help='Full-text search of prompts and outputs, best match first ("a phrase" in quotes).',
)
@click.option("--batch", "batch_ref", metavar="ID", help="Only this batch's lines, in file order.")
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
    batch_ref: str | None,
    as_json: bool,
    watch: bool,
) -> None:
    """List jobs, newest first.

    \b
    Examples:
      gjobs list --status in_progress,queued
      gjobs list --label team=docs --since 2h
      gjobs list --json | jq -r '.[].id'
    """
    from jobs.store.queries import ListFilter

    if as_json and watch:
        raise UsageError("choose --json or --watch, not both")
    if search is not None and not search.strip():
        raise UsageError("-q needs some text to search for")
    filt = ListFilter(
        statuses=_statuses(statuses),
        labels=_label_filter(labels) if labels else None,
        since=parse_since(since, ctx.clock.now()) if since else None,
        limit=limit,
    )
    if batch_ref:
        filt.batch_id = ctx.app.service.batches.get(batch_ref).id
    if watch:
        _watch(ctx, filt, search)
        return
    hits = ctx.queries.search(search, filt) if search else None
    jobs = [hit.job for hit in hits] if hits is not None else ctx.queries.list_jobs(filt)
    if as_json:
        all_labels = ctx.queries.labels_for([j.id for j in jobs])
        items = [render.job_dict(j, all_labels[j.id]) for j in jobs]
        for item, hit in zip(items, hits or (), strict=False):
            item["search"] = {"rank": round(hit.rank, 6), **_excerpt_json(hit.excerpt)}
        _echo_json(items)
        return
    if jobs:
        print_plain_when_piped(ctx.console, render.jobs_table(jobs, ctx.clock.now()))
        if hits:
            _print_excerpts(ctx, hits)
    elif statuses or labels or since or search or batch_ref:
        ctx.err_console.print("no jobs match")
    else:
        ctx.err_console.print(
            'no jobs yet: `gjobs submit "..."` starts one, `gjobs demo` shows a tour'
        )


def _label_filter(pairs: tuple[str, ...]) -> dict[str, str]:
    from jobs.service import parse_labels

    return parse_labels(pairs)


def _excerpt_json(excerpt: str) -> dict:
    """The excerpt as plain text, and where the matched terms are in it ([start, end) pairs)."""
    from jobs.store.queries import HL_END, HL_START

    plain, spans, start = [], [], None
    length = 0
    for char in excerpt:
        if char == HL_START:
            start = length
        elif char == HL_END:
            if start is not None:
                spans.append([start, length])
            start = None
        else:
            plain.append(char)
            length += 1
    return {"excerpt": "".join(plain), "matches": spans}


def _print_excerpts(ctx: CliContext, hits) -> None:
    """One line per match: the text around it, the matched terms highlighted (on a terminal)."""
    from jobs.store.queries import HL_END, HL_START

    marked = re.compile(f"{HL_START}(.*?){HL_END}", re.S)
    for hit in hits:
        flat = " ".join(hit.excerpt.split())
        line = Text(f"{hit.job.id}  ", style="bold")
        position = 0
        for match in marked.finditer(flat):  # safe_text drops the markers: split on them first
            line.append(render.safe_text(flat[position : match.start()]))
            line.append(render.safe_text(match.group(1)), style="bold yellow")
            position = match.end()
        line.append(render.safe_text(flat[position:]))
        ctx.console.print(line, overflow="fold")


def _watch(ctx: CliContext, filt, search: str | None) -> None:
    """A live table until Ctrl-C; it only reads the store (the worker moves the jobs on)."""
    from rich.live import Live

    def rows():
        if search:
            return [hit.job for hit in ctx.queries.search(search, filt)]
        return ctx.queries.list_jobs(filt)

    def table() -> render.JobsTable:
        return render.jobs_table(rows(), ctx.clock.now(), title="jobs (Ctrl-C to stop)")

    try:
        with Live(table(), console=ctx.console, refresh_per_second=4, transient=False) as live:
            while True:
                ctx.clock.sleep(WATCH_INTERVAL)
                live.update(table())
    except KeyboardInterrupt:
        pass


def _conversation(ctx: CliContext, job: Job) -> list[Job]:
    """The turns before this job and the follow-ups after it, oldest first."""
    from jobs.service.conversation import conversation

    return conversation(ctx.app.service, job.id)


def _show_renderable(ctx: CliContext, job: Job, *, thoughts: bool):
    service = ctx.app.service
    return render.show_job(
        job,
        # Only what is rendered is read: a 20 MB output costs what its first 100 KB cost.
        service.store.get_result_head(job.id, render.SHOW_OUTPUT_CHARS + 1),
        service.clock.now(),
        chain=_conversation(ctx, job),
        events=service.store.events_for(job.id),
        labels=service.store.labels_for([job.id])[job.id],
        thoughts=thoughts,
        extra_facts=_cost_facts(ctx, job),
    )


def _cost_facts(ctx: CliContext, job: Job) -> list[tuple[str, Text]]:
    """`show`'s cost line (unpriced is said, never shown as $0) and budget line."""
    money = _money(ctx, job)
    facts = []
    if money["cost_text"]:
        style = "yellow" if money["cost_usd"] is None else ""
        facts.append(("cost", Text(money["cost_text"], style=style)))
    budget = money["budget"]
    if budget is not None:
        line = Text(budget["limit"])
        if budget["tripped_reason"]:
            line.append(f"  {budget['tripped_reason']}", style="red")
        elif job.job_status.is_terminal and _over(budget, job, money["cost_usd"]):
            line.append(
                "  exceeded, but the usage came only with the final reply: too late to stop it",
                style="yellow",
            )
        facts.append(("budget", line))
    return facts


def _over(budget: dict, job: Job, cost: float | None) -> bool:
    tokens = job.total_tokens or 0
    if budget["max_tokens"] is not None and tokens >= budget["max_tokens"]:
        return True
    return (
        budget["max_cost_usd"] is not None and cost is not None and cost >= budget["max_cost_usd"]
    )


def _money(ctx: CliContext, job: Job) -> dict:
    """Cost and budget of one job, for `show` and `show --json`."""
    from jobs.models import JobUsage
    from jobs.service.usage import cost_text, job_cost
    from jobs.store.usage import describe

    service = ctx.app.service
    with service.store.db.read() as session:
        usage = session.get(JobUsage, job.id)
    tier = usage.service_tier if usage else None
    if tier is None:
        tier = json.loads(job.request_json or "{}").get("service_tier")
    cost = job_cost(ctx.prices, job, tier, usage.search_calls if usage else None)
    budget = service.budgets.get("job", job.id)
    return {
        "cost_usd": None if cost is None else round(cost, 6),
        "cost_text": cost_text(cost, job.total_tokens is not None),
        "service_tier": tier,
        "search_calls": usage.search_calls if usage else None,
        "budget": None
        if budget is None
        else {
            "limit": describe(budget),
            "max_tokens": budget.max_tokens,
            "max_cost_usd": budget.max_cost_usd,
            "tripped_at": render._iso(budget.tripped_at),
            "tripped_reason": budget.tripped_reason,
        },
    }


@click.command()
@click.argument("job_id", shell_complete=complete_job_id)
@click.option("-t", "--thoughts", is_flag=True, help="Also print the thought summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--raw", is_flag=True, help="Print only the output text, byte-exact (for pipes).")
@click.option(
    "--no-pager", is_flag=True, help="Never page long output (it is paged only on a terminal)."
)
@click.option("--events", is_flag=True, help="List the job's event journal (what its stream said).")
@pass_ctx
def show(
    ctx: CliContext,
    job_id: str,
    thoughts: bool,
    as_json: bool,
    raw: bool,
    no_pager: bool,
    events: bool,
) -> None:
    """Show a job: its prompt, output, usage, timings, the conversation it belongs to.

    JOB_ID is an id, any unique prefix of one, an interaction id, or @last (the newest job).
    Long output goes through a pager ($PAGER, else less) on a terminal, never when piped.
    --events lists what the job's stream said, event by event (the journal).

    \b
    Examples:
      gjobs show @last
      gjobs show 5zd --thoughts
      gjobs show 5zdwgf --raw > report.md
      gjobs show 5zdwgf --events --json
    """
    from jobs.cli.batch_cmds import job_extras

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
        money = _money(ctx, job)
        data = render.job_detail_dict(job, result, labels, service.store.events_for(job.id))
        data.update(
            cost_usd=money["cost_usd"],
            priced=None if job.total_tokens is None else money["cost_usd"] is not None,
            service_tier=money["service_tier"],
            search_calls=money["search_calls"],
            budget=money["budget"],
        )
        _echo_json({**data, **job_extras(ctx, job.id)[1]})
        return
    page_if_long(ctx.console, _show_renderable(ctx, job, thoughts=thoughts), enabled=not no_pager)
    extras = job_extras(ctx, job.id)[0]
    if extras is not None:
        ctx.console.print(extras)
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
@click.argument("job_id", shell_complete=complete_job_id)
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@pass_ctx
def cancel(ctx: CliContext, job_id: str, as_json: bool) -> None:
    """Cancel a job (one remote cancel; the final status comes from the server).

    \b
    Example:
      gjobs cancel @last
    """
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


def _confirm(question: str, *, refused: str) -> None:
    """Ask on the terminal; without one, read the answer from stdin (`yes | gjobs delete ID`).
    No answer, or not yes: one `error:` line (JobsError, exit 1) and nothing changes."""
    if sys.stdin.isatty():
        try:
            answer = click.confirm(question, default=False, err=True)
        except click.Abort:  # Ctrl-C or Ctrl-D at the prompt
            click.echo(err=True)
            answer = False
    else:
        line = sys.stdin.readline()
        if not line:
            raise JobsError(f"{refused}: there is no terminal to ask on; add --yes to confirm")
        click.echo(f"{question} [y/N]: {line.strip()}", err=True)
        answer = line.strip().lower() in ("y", "yes")
    if not answer:
        raise JobsError(refused)


@click.command()
@click.argument("job_id", shell_complete=complete_job_id)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--local-only", is_flag=True, help="Keep the interaction on the API; forget it here only."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
@pass_ctx
def delete(ctx: CliContext, job_id: str, yes: bool, local_only: bool, as_json: bool) -> None:
    """Delete a job here and its stored interaction on the API.

    \b
    Examples:
      gjobs delete @last
      gjobs delete --yes --local-only 5zdw
    """
    service = ctx.app.service
    job = service.get_job(job_id)
    remote = not local_only and bool(job.interaction_id) and job.job_status is not JobStatus.EXPIRED
    where = "here and on the API" if remote else "here"
    running = (
        " (it is still running: it is cancelled first)"
        if remote and not job.job_status.is_terminal
        else ""
    )
    if not yes:
        _confirm(f"delete job {job.id} ({job.status}) {where}{running}?", refused="not deleted")
    service.delete(job.id, remote=not local_only)
    if as_json:
        _echo_json({"id": job.id, "deleted": True, "remote": remote, "status": job.status})
        return
    ctx.console.print(f"deleted {job.id} {where}")


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
        _confirm(warning, refused="not resubmitted")
    job = service.resubmit(job.id)
    if as_json:
        _echo_json(_job_json(ctx, job))
        if job.job_status in (JobStatus.SUBMIT_UNKNOWN, JobStatus.FAILED):
            sys.exit(1)
        return
    _print_submitted(ctx, job)
    _worker_hint(ctx, job)


COMMANDS = (submit, list_jobs, show, cancel, delete, resubmit)
