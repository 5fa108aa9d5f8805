"""`gjobs adopt`: put an interaction id back on the job it was created for."""

from __future__ import annotations

import click
from rich.text import Text

from jobs import render
from jobs.cli.context import CliContext

pass_ctx = click.make_pass_decorator(CliContext)


@click.command()
@click.argument("ids", nargs=-1, required=True, metavar="[JOB] INTERACTION_ID")
@pass_ctx
def adopt(ctx: CliContext, ids: tuple[str, ...]) -> None:
    """Attach an interaction to its submit_unknown job (found from its jobs-id label)."""
    from jobs.errors import UsageError

    if len(ids) > 2:
        raise UsageError("give at most JOB and INTERACTION_ID")
    job_id, interaction_id = (None, ids[0]) if len(ids) == 1 else ids
    job = ctx.app.service.recovery.adopt(job_id, interaction_id)
    line = Text(f"{job.id} ")
    line.append_text(render.status_text(job))
    line.append(f"  interaction {job.interaction_id}")
    ctx.console.print(line)
    if not job.job_status.is_terminal:
        ctx.err_console.print("adopted: the worker follows it from here; nothing was sent again")


COMMANDS = (adopt,)
