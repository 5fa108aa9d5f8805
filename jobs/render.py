"""Rendering: pure functions from records to rich renderables and JSON-ready dicts.

Model text is untrusted: rich strips only a few control characters, so ESC/CSI/OSC sequences, C1
controls and bidi overrides would reach the terminal, and `[link=...]` would become a live link if
printed as markup. Everything that came from the API goes through `safe_text` and is printed as a
plain `Text` (or Markdown), never as markup. `--json` and `--raw` bypass this and stay byte-exact.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from jobs.payloads import expand_steps
from jobs.status import JobStatus

if TYPE_CHECKING:  # jobs.models imports SQLModel; listings render store/queries.py rows too
    from jobs.models import Job, JobEvent, JobResult

# ESC-introduced sequences (CSI ... final, OSC ... BEL/ST, other two-byte escapes), then any other
# C0 control except tab and newline, DEL, C1 controls, and the bidi embedding/override/isolate marks.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (hyperlinks, clipboard, title)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -~]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"  # 8-bit OSC
)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe_text(value: str | None) -> str:
    """Text that cannot move the cursor, set the clipboard, make links or reorder the line."""
    if not value:
        return ""
    return _CONTROLS.sub("", _ESCAPES.sub("", value.replace("\r\n", "\n")))


STATUS_STYLES = {
    JobStatus.PENDING: "dim",
    JobStatus.SUBMITTING: "cyan",
    JobStatus.SUBMIT_UNKNOWN: "bold magenta",
    JobStatus.QUEUED: "cyan",
    JobStatus.IN_PROGRESS: "blue",
    JobStatus.REQUIRES_ACTION: "bold yellow",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "bold red",
    JobStatus.CANCELLED: "yellow",
    JobStatus.INCOMPLETE: "yellow",
    JobStatus.BUDGET_EXCEEDED: "red",
    JobStatus.EXPIRED: "dim red",
    JobStatus.UNKNOWN: "magenta",
}


def status_text(job: Job) -> Text:
    status = job.job_status
    label = status.value
    if status is JobStatus.PENDING and job.parent_job_id:
        label = f"pending (after {job.parent_job_id})"
    elif status is JobStatus.REQUIRES_ACTION:
        label = "requires_action (needs you)"
    elif job.cancel_requested_at and not status.is_terminal:
        label += " (cancelling)"
    return Text(label, style=STATUS_STYLES.get(status, ""))


def interaction_text(job: Job) -> Text:
    """The interaction id, or why there is none. A submit_unknown job's create was sent and may
    have run: "not created yet" would be a lie there."""
    if job.interaction_id:
        return Text(job.interaction_id)
    if job.job_status is JobStatus.SUBMIT_UNKNOWN:
        return Text(
            f"unknown: the create was sent and may have run, but no id was recorded "
            f"(`gjobs adopt {job.id} INTERACTION_ID` if you have it)",
            style="magenta",
        )
    if job.job_status is JobStatus.SUBMITTING:
        return Text("(being created now)")
    if job.job_status.is_terminal:
        return Text("(none recorded)")
    return Text("(not created yet)")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def job_duration(job: Job, now: datetime) -> float | None:
    start = job.submitted_at
    if start is None:
        return None
    return ((job.finished_at or now) - start).total_seconds()


def human_tokens(value: int | None) -> str:
    if value is None:
        return ""
    if value < 10_000:
        return f"{value:,}"
    if value < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.2f}M"


def table_status_text(job: Job) -> Text:
    """The status word for a table cell: short, so the table fits 80 columns (details: `show`)."""
    status = job.job_status
    label = "cancelling" if job.cancel_requested_at and not status.is_terminal else status.value
    return Text(label, style=STATUS_STYLES.get(status, ""))


_TARGET_SUFFIX = re.compile(r"(-preview)?(-\d{2}-\d{4}|-\d{4}-\d{2}-\d{2}|-\d{2,})?$")


def short_target(name: str) -> str:
    """A model or agent name without its `-preview` and release-date tail, for narrow tables:
    `deep-research-preview-04-2026` -> `deep-research`, `gemini-3-flash-preview` -> `gemini-3-flash`."""
    return _TARGET_SUFFIX.sub("", name, count=1) or name


class JobsTable:
    """The `jobs list` table. It sizes its columns to the width it is given: the fixed columns
    (id, status, age, took, tokens) keep their width, and model/agent and prompt share the rest,
    the prompt keeping at least ~20 characters while the model name yields first.

    Below NARROW columns (80 included) the prompt matters most: model names lose their
    `-preview`/date tail and the `took` column gives way (`show` has it); the prompt keeps at
    least PROMPT_NARROW characters before the model name is cut."""

    PROMPT_MIN = 20
    MODEL_MIN = 10
    NARROW = 100
    PROMPT_NARROW = 28

    def __init__(self, jobs: list[Job], now: datetime, *, title: str | None = None) -> None:
        self.jobs, self.now, self.title = jobs, now, title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(options.max_width, options.max_width)

    def table(self, width: int) -> Table:
        narrow = width < self.NARROW
        rows = [self._row(job, narrow=narrow) for job in self.jobs]
        headers = ["id", "status", "model/agent", "age", "took", "tokens", "prompt"]
        if narrow:
            del headers[4]
            for row in rows:
                del row[4]
        numeric = [i for i, name in enumerate(headers) if name in ("age", "took", "tokens")]

        def natural(index: int) -> int:
            return max([len(headers[index])] + [row[index].cell_len for row in rows])

        gaps = 2 * (len(headers) - 1)  # padding (0, 1) between columns, none at the edges
        fixed = sum(natural(i) for i in (0, 1, *numeric))
        rest = max(0, width - gaps - fixed)
        model = min(natural(2), max(self.MODEL_MIN, rest - self.PROMPT_MIN), max(22, rest // 2))
        if narrow:
            model = min(natural(2), max(self.MODEL_MIN, rest - self.PROMPT_NARROW))

        table = Table(
            title=self.title,
            header_style="bold",
            box=None,
            expand=True,
            pad_edge=False,
            padding=(0, 1),
        )
        table.add_column("id", no_wrap=True, min_width=natural(0))
        table.add_column("status", no_wrap=True, min_width=natural(1))
        table.add_column("model/agent", no_wrap=True, width=model, overflow="ellipsis")
        for index in numeric:
            table.add_column(headers[index], justify="right", no_wrap=True)
        table.add_column("prompt", no_wrap=True, overflow="ellipsis", ratio=1)
        for row in rows:
            table.add_row(*row)
        return table

    def _row(self, job: Job, *, narrow: bool = False) -> list[Text]:
        prompt = Text(safe_text(job.prompt_excerpt))
        if job.job_status is JobStatus.PENDING and job.parent_job_id:
            prompt = Text(f"after {job.parent_job_id}: ", style="dim") + prompt
        target = safe_text(job.target)
        return [
            Text(job.id),
            table_status_text(job),
            Text(short_target(target) if narrow else target),
            Text(human_duration((self.now - job.created_at).total_seconds())),
            Text(human_duration(job_duration(job, self.now))),
            Text(human_tokens(job.total_tokens)),
            prompt,
        ]


def jobs_table(jobs: list[Job], now: datetime, *, title: str | None = None) -> JobsTable:
    """The jobs as a table that fits the console's width (80 columns included)."""
    return JobsTable(jobs, now, title=title)


def usage_table(job: Job) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in usage_dict(job).items():
        table.add_row(label.replace("_", " "), "" if value is None else f"{value:,}")
    return table


def show_job(
    job: Job,
    result: JobResult | None,
    now: datetime,
    *,
    chain: list[Job],
    events: list[JobEvent],
    labels: dict[str, str],
    thoughts: bool = False,
    extra_facts: list[tuple[str, Text | str]] | None = None,
) -> Group:
    """Everything `jobs show` prints: facts, chain, thoughts (on request), output, usage."""
    from rich.markdown import Markdown  # here: markdown-it costs `jobs list` ~60 ms to import

    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_row("job", job.id)
    facts.add_row("status", status_text(job))
    if job.remote_status and job.remote_status != job.status:
        facts.add_row("remote status", Text(safe_text(job.remote_status)))
    facts.add_row("agent" if job.agent else "model", Text(safe_text(job.target)))
    facts.add_row("interaction", interaction_text(job))
    if labels:
        facts.add_row("labels", Text(", ".join(f"{k}={v}" for k, v in sorted(labels.items()))))
    facts.add_row("created", _when(job.created_at, now))
    if job.submitted_at:
        facts.add_row("submitted", _when(job.submitted_at, now))
    if job.finished_at:
        facts.add_row(
            "finished",
            _when(job.finished_at, now) + f"  (took {human_duration(job_duration(job, now))})",
        )
    elif job.next_poll_at and job.job_status.is_pollable:
        facts.add_row("next poll", _when(job.next_poll_at, now))
    facts.add_row("polls", str(job.poll_count))
    for name, value in extra_facts or ():  # e.g. cost and budget (cli/jobs_cmds.py)
        facts.add_row(name, value)
    if job.error_message or job.error_code:
        facts.add_row(
            "error",
            Text(
                safe_text(" ".join(filter(None, [job.error_code, job.error_message]))), style="red"
            ),
        )
    if len(chain) > 1:
        # One line per turn, the prompt cut to fit: a conversation can be long.
        rows = [
            (
                f"{'→' if turn.id == job.id else ' '} {index}. {turn.id}",
                table_status_text(turn),
                turn,
            )
            for index, turn in enumerate(chain, 1)
        ]
        turns = Table.grid(padding=(0, 1), expand=True)
        turns.add_column(no_wrap=True, min_width=max(len(r[0]) for r in rows))
        turns.add_column(no_wrap=True, min_width=max(r[1].cell_len for r in rows))
        turns.add_column(no_wrap=True, overflow="ellipsis", style="dim", ratio=1)
        for label, status, turn in rows:
            turns.add_row(label, status, safe_text(turn.prompt_excerpt))
        facts.add_row("conversation", turns)

    parts: list[Any] = [facts, *prompt_panels(job)]
    if thoughts and result is not None:
        summaries = json.loads(result.thoughts_json or "[]")
        body = (
            Markdown("\n\n".join(safe_text(s) for s in summaries), hyperlinks=False)
            if summaries
            else Text("(no thought summaries)")
        )
        parts.append(Panel(body, title="thought summaries", title_align="left", border_style="dim"))
    if result is not None and result.output_text:
        parts.append(output_panel(job, result.output_text))
    elif job.job_status.is_terminal:
        parts.append(Text("(no output)", style="dim"))
    if job.total_tokens is not None:
        parts.append(
            Panel(usage_table(job), title="usage (tokens)", title_align="left", expand=False)
        )
    if thoughts and result is None and not job.job_status.is_terminal:
        parts.append(Text("thought summaries are saved when the job ends", style="dim"))
    return Group(*parts)


PROMPT_SHOWN_CHARS = 2000  # `show` prints the prompt up to this; --json has all of it


def request_text(job: Job) -> tuple[str, str | None]:
    """The prompt and system instruction the job was sent with (from its recorded create body)."""
    try:
        body = json.loads(job.request_json or "{}")
    except ValueError:
        return job.prompt_excerpt, None
    prompt = body.get("input", job.prompt_excerpt)
    if not isinstance(prompt, str):
        prompt = json.dumps(prompt, ensure_ascii=False, indent=2)
    system = body.get("system_instruction")
    return prompt, system if isinstance(system, str) else None


def prompt_panels(job: Job) -> list[Panel]:
    """The system instruction and the prompt as sent, cut (and saying so) when long."""
    prompt, system = request_text(job)
    panels = []
    for title, text in (("system instruction", system), ("prompt", prompt)):
        if not text:
            continue
        body = Text(safe_text(text[:PROMPT_SHOWN_CHARS]))
        if len(text) > PROMPT_SHOWN_CHARS:
            body.append(
                f"\n… ({len(text) - PROMPT_SHOWN_CHARS:,} more characters: `gjobs show {job.id} --json`)",
                style="dim",
            )
        panels.append(Panel(body, title=title, title_align="left", border_style="dim"))
    return panels


# `show` renders at most this much of an output as Markdown (rich takes ~5 s per MB and holds
# the whole rendering in memory); the rest is a note away: `--raw` prints it all, byte-exact.
SHOW_OUTPUT_CHARS = 100_000


def output_panel(job: Job, text: str) -> Panel:
    """The output as Markdown, links shown with their real target (never a terminal hyperlink:
    its text could name another address than the one it opens). An output longer than
    SHOW_OUTPUT_CHARS is cut at a line break, with a note that says so."""
    total = max(job.output_chars or 0, len(text))
    from rich.markdown import Markdown  # here: markdown-it costs `jobs list` ~60 ms to import

    shown = text[:SHOW_OUTPUT_CHARS]
    if total > len(shown):
        cut = shown.rfind("\n", 0, len(shown))
        if cut > SHOW_OUTPUT_CHARS // 2:
            shown = shown[:cut]
    body: Any = Markdown(safe_text(shown), hyperlinks=False)
    if total > len(shown):
        note = Text(
            f"\n… shown: the first {len(shown):,} of {total:,} characters. All of it: "
            f"`gjobs show {job.id} --raw` (e.g. `| less`)",
            style="bold yellow",
        )
        body = Group(body, note)
    return Panel(body, title="output", title_align="left")


def _when(moment: datetime, now: datetime) -> str:
    delta = (now - moment).total_seconds()
    rel = f"{human_duration(delta)} ago" if delta >= 0 else f"in {human_duration(-delta)}"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({rel})"


# -- JSON ---------------------------------------------------------------------------------------------


def usage_dict(job: Job) -> dict[str, int | None]:
    return {
        "input_tokens": job.input_tokens,
        "output_tokens": job.output_tokens,
        "thought_tokens": job.thought_tokens,
        "cached_tokens": job.cached_tokens,
        "tool_use_tokens": job.tool_use_tokens,
        "total_tokens": job.total_tokens,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_dict(job: Job, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON contract for scripts (`submit --json`, `list --json`)."""
    data: dict[str, Any] = {
        "id": job.id,
        "interaction_id": job.interaction_id,
        "status": job.status,
        "remote_status": job.remote_status,
    }
    data["agent" if job.agent else "model"] = job.target
    data.update(
        {
            "prompt": job.prompt_excerpt,
            "labels": labels or {},
            "parent_job_id": job.parent_job_id,
            "created_at": _iso(job.created_at),
            "submitted_at": _iso(job.submitted_at),
            "finished_at": _iso(job.finished_at),
            "poll_count": job.poll_count,
            "usage": usage_dict(job),
        }
    )
    return data


def job_detail_dict(
    job: Job, result: JobResult | None, labels: dict[str, str], events: list[JobEvent]
) -> dict[str, Any]:
    """`show --json`: the listing fields plus output, error, thoughts, steps and history."""
    data = job_dict(job, labels)
    request = json.loads(job.request_json or "{}")
    steps = json.loads(result.steps_json) if result else []
    data.update(
        {
            "previous_interaction_id": job.previous_interaction_id,
            "request": request,
            "remote_created_at": _iso(job.remote_created_at),
            "remote_updated_at": _iso(job.remote_updated_at),
            "last_polled_at": _iso(job.last_polled_at),
            "next_poll_at": _iso(job.next_poll_at),
            "output_text": result.output_text if result else None,
            "error": {"code": job.error_code, "message": job.error_message}
            if (job.error_code or job.error_message)
            else None,
            "thoughts": json.loads(result.thoughts_json) if result else [],
            "steps": expand_steps(steps, request.get("input")),
            "usage_detail": json.loads(result.usage_json) if result else {},
            "events": [{"at": _iso(e.at), "kind": e.kind, "detail": e.detail} for e in events],
        }
    )
    return data
