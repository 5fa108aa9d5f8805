"""`jobs follow`: a job live, from its event journal.

The answer goes to stdout as it is written, and nothing else does: `jobs follow ID > answer.md`
writes exactly what `jobs show --raw ID` prints. Status changes, thought summaries, searches and
the closing usage line go to stderr, dimmed and set apart. Model text on a terminal passes through
`render.safe_text`; on a pipe it is written as received.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from jobs import render
from jobs.cli.context import CliContext
from jobs.models import Job, JobStatus
from jobs.service.follow import JobFollower, JobUpdate
from jobs.store import StoredEvent

pass_ctx = click.make_pass_decorator(CliContext)


class FollowView:
    """Turns journal events into what a person watching wants to see."""

    def __init__(
        self, ctx: CliContext, job_id: str, *, answer: bool = True, out: Any = None
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.err: Console = ctx.err_console
        self.show_answer = answer
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.printed = ""  # the answer text written so far
        self.step_types: dict[int, str] = {}
        self.status: str | None = None
        self.started_at = None
        self.fallback_used = False
        self._in_answer = False

    # -- events --------------------------------------------------------------------------------

    def update(self, item: StoredEvent | JobUpdate) -> None:
        if isinstance(item, JobUpdate):
            self._status(item.job.status, item.job)
            return
        payload = item.payload if isinstance(item.payload, dict) else {}
        kind = item.event_type
        if kind == "interaction.created":
            self._status((payload.get("interaction") or {}).get("status"))
        elif kind == "interaction.status_update":
            self._status(payload.get("status"))
        elif kind == "interaction.completed":
            self._status((payload.get("interaction") or {}).get("status"))
        elif kind == "step.start":
            step = payload.get("step") if isinstance(payload.get("step"), dict) else {}
            index = payload.get("index")
            if isinstance(index, int):
                self.step_types[index] = str(step.get("type"))
            if step.get("type") == "google_search_call":
                self._searching(step.get("arguments"))
        elif kind == "step.delta":
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            if delta.get("type") == "thought_summary":
                content = delta.get("content")
                text = content.get("text") if isinstance(content, dict) else None
                if text:
                    self._thought(str(text))
            elif delta.get("type") == "google_search_call":  # the queries, sent as a delta
                self._searching(delta.get("arguments"))
            elif delta.get("type") == "text" and self.step_types.get(payload.get("index")) in (
                "model_output",
                None,
            ):
                self._answer(str(delta.get("text") or ""))
        elif kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
            self._note(f"error: {error.get('code')}: {error.get('message')}", style="red")

    def _searching(self, arguments: object) -> None:
        """A search's queries, whether the step's start carries them or a delta does after it."""
        queries = arguments.get("queries") if isinstance(arguments, dict) else None
        if queries:
            self._note("searching: " + "; ".join(str(q) for q in queries), style="dim cyan")

    def _status(self, status: str | None, job: Job | None = None) -> None:
        if not status or status == self.status:
            return
        self.status = status
        self._end_answer_line()
        line = Text(f"[{self._elapsed(job)}] ", style="dim")
        shown = job if job is not None else None
        if shown is not None:
            line.append_text(render.status_text(shown))
        else:
            style = render.STATUS_STYLES.get(JobStatus.from_remote(status), "")
            line.append(render.safe_text(status), style=style)
        self.err.print(line)

    def _thought(self, text: str) -> None:
        self._end_answer_line()
        block = Text(f"[{self._elapsed()}] thinking\n", style="dim")
        block.append(render.safe_text(text.strip()), style="italic dim")
        self.err.print(block)

    def _note(self, text: str, *, style: str) -> None:
        self._end_answer_line()
        self.err.print(
            Text(f"[{self._elapsed()}] ", style="dim") + Text(render.safe_text(text), style=style)
        )

    def _answer(self, text: str) -> None:
        if not self.show_answer or not text:
            return
        self.printed += text
        self._in_answer = True
        self._write(text)

    def _write(self, text: str) -> None:
        shown = render.safe_text(text) if self.tty else text
        self.out.flush()
        if hasattr(self.out, "buffer"):
            self.out.buffer.write(shown.encode("utf-8"))
        else:
            self.out.write(shown)
        self.out.flush()

    def _end_answer_line(self) -> None:
        # On a terminal, stderr lines must not land in the middle of an answer line.
        if self._in_answer and self.tty and not self.printed.endswith("\n"):
            self._write("\n")
        self._in_answer = False

    def _elapsed(self, job: Job | None = None) -> str:
        job = job or self.ctx.app.service.store.find_job(self.job_id)
        if job is None or job.submitted_at is None:
            return "0s"
        now = self.ctx.app.service.clock.now()
        return render.human_duration(((job.finished_at or now) - job.submitted_at).total_seconds())

    # -- the end -------------------------------------------------------------------------------

    def finish(self, job: Job) -> None:
        """Complete the answer from the stored result if the journal lacked part of it (a job
        that was polled, not streamed), then usage and elapsed time."""
        service = self.ctx.app.service
        result = service.get_result(job.id)
        if self.show_answer and result is not None:
            full = result.output_text
            if full != self.printed:
                self.fallback_used = True
                if full.startswith(self.printed):
                    self._write(full[len(self.printed) :])
                    self.printed = full
                elif not self.printed:
                    self._write(full)
                    self.printed = full
                else:
                    self.err.print(
                        Text(
                            f"note: the streamed text differs from the stored result; "
                            f"`jobs show --raw {job.id}` prints the stored one",
                            style="yellow",
                        )
                    )
        if self.show_answer and self.tty and self.printed and not self.printed.endswith("\n"):
            self._write("\n")
        self._status(job.status, job)
        tokens = []
        for label, value in (
            ("in", job.input_tokens),
            ("out", job.output_tokens),
            ("thought", job.thought_tokens),
            ("total", job.total_tokens),
        ):
            if value is not None:
                tokens.append(f"{label} {render.human_tokens(value)}")
        line = f"{job.id} {job.status} after {self._elapsed(job)}"
        if tokens:
            line += "; tokens " + ", ".join(tokens)
        self.err.print(Text(line, style="dim"))


def follow_job(
    ctx: CliContext,
    job: Job,
    *,
    answer: bool = True,
    as_json: bool = False,
    closing_line: bool = True,
) -> Job:
    """Follow a job to its end (or until Ctrl-C, which stops following, never the job).
    `answer=False` (`submit --wait`): status and thoughts only, the caller shows the result."""
    service = ctx.app.service
    follower = JobFollower(service, job.id)
    view = FollowView(ctx, job.id, answer=answer)
    try:
        for item in follower.updates():
            if as_json:
                if isinstance(item, StoredEvent):
                    click.echo(event_json_line(item))
            else:
                view.update(item)
    except KeyboardInterrupt:
        view._end_answer_line()
        ctx.err_console.print(
            f"stopped following {job.id}; it goes on (`jobs follow {job.id}` to look again)"
        )
        sys.exit(130)
    job = service.get_job(job.id)
    if not as_json and closing_line:
        view.finish(job)
    return job


def _summary(event: StoredEvent) -> str:
    payload = event.payload if isinstance(event.payload, dict) else {}
    kind = event.event_type
    if kind in ("interaction.created", "interaction.completed"):
        return f"status {(payload.get('interaction') or {}).get('status')}"
    if kind == "interaction.status_update":
        return f"status {payload.get('status')}"
    if kind == "step.start":
        return f"step {payload.get('index')} {(payload.get('step') or {}).get('type')}"
    if kind == "step.delta":
        delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
        text = delta.get("text")
        if text is None and isinstance(delta.get("content"), dict):
            text = delta["content"].get("text")
        text = " ".join(str(text or "").split())
        return f"{delta.get('type')} {text[:50]!r}" if text else str(delta.get("type"))
    if kind == "step.stop":
        return f"step {payload.get('index')} done"
    return event.payload_json[:60]


def print_journal(ctx: CliContext, job: Job, *, as_json: bool) -> None:
    """`show ID --events`: the journal, one event a row (or as JSON, payloads as received)."""
    from rich.table import Table

    events = ctx.app.service.events(job.id)
    if as_json:
        click.echo("[" + ",\n".join(event_json_line(e) for e in events) + "]")
        return
    if not events:
        ctx.err_console.print(f"job {job.id} has no events: it was polled, not streamed")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("seq", "received", "event_id", "type", "what"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            str(event.seq),
            event.received_at.strftime("%H:%M:%S.%f")[:-3],
            render.safe_text(event.event_id or ""),
            render.safe_text(event.event_type),
            render.safe_text(_summary(event)),
        )
    ctx.console.print(table)


def event_json_line(event: StoredEvent) -> str:
    """One journal event as a JSON line; `payload` is the text as received, embedded verbatim."""
    head = json.dumps(
        {
            "seq": event.seq,
            "event_id": event.event_id,
            "type": event.event_type,
            "received_at": event.received_at.isoformat().replace("+00:00", "Z"),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return head[:-1] + ',"payload":' + event.payload_json + "}"


@click.command()
@click.argument("job_id")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the events as JSON Lines, in journal order."
)
@pass_ctx
def follow(ctx: CliContext, job_id: str, as_json: bool) -> None:
    """Follow a job live: status, thought summaries, the answer as it is written."""
    job = ctx.app.service.get_job(job_id)
    job = follow_job(ctx, job, as_json=as_json)
    if job.job_status is not JobStatus.COMPLETED:
        sys.exit(1)


COMMANDS = (follow,)
