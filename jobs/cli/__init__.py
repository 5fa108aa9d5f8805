"""The `jobs` command line. Thin: parse, call the service, render.

Every JobsError becomes one line on stderr and a non-zero exit; a traceback is shown only with
JOBS_DEBUG=1 (and never contains the API key: gateway errors are raised `from None`).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from jobs import __version__
from jobs.errors import JobsError


class JobsGroup(click.Group):
    """Turns domain errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JobsError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`jobs show X | head`): stop quietly, as Python's docs advise.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: one line, the traceback only on request
            if os.environ.get("JOBS_DEBUG"):
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (set JOBS_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(cls=JobsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobs")
@click.option("-v", "--verbose", is_flag=True, help="Log what the runner does to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Run and track long Gemini Interactions API jobs in the background."""
    from jobs.cli.context import CliContext

    ctx.obj = CliContext()
    if verbose:
        ctx.obj.setup_logging(logging.DEBUG)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from jobs.cli import jobs_cmds, ops_cmds
    from jobs.cli.emulator import emulator_command

    for command in (*jobs_cmds.COMMANDS, *ops_cmds.COMMANDS):
        cli.add_command(command)
    cli.add_command(emulator_command, "emulator")


_register()


def main() -> None:
    cli(prog_name="jobs")
