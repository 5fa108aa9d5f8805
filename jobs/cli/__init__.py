"""The `jobs` command line. Thin: parse, call the service, render.

Every error a user can cause becomes one line on stderr (`error: ...`) and a non-zero exit: domain
errors (JobsError) exit with their own code, click's usage errors (a missing option, a bad value)
with 2. A traceback is shown only with JOBS_DEBUG=1 (and never contains the API key: gateway errors
are raised `from None`).

Tests inject a clock (and so drive time) by passing a ready CliContext: `runner.invoke(cli, args,
obj=CliContext(clock=fake_clock))`; the group keeps a context it is given.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from jobs import __version__
from jobs.errors import JobsError


class OneLineError(click.ClickException):
    """A click error shown as one `error:` line (click's own show() prints a usage block)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _one_line(exc: click.UsageError) -> OneLineError:
    message = exc.format_message().strip().rstrip(".")
    message = message[:1].lower() + message[1:]
    if exc.ctx is not None:
        message += f" (see `{exc.ctx.command_path} --help`)"
    return OneLineError(message, exc.exit_code)


def _shows_help(exc: click.UsageError) -> bool:
    """`jobs` or `jobs db` alone prints the help: keep click's behaviour there."""
    return type(exc).__name__ == "NoArgsIsHelpError"


PROG_NAME = "gjobs"  # what usage lines and hints say: `jobs` alone is a shell builtin in bash/zsh


class JobsGroup(click.Group):
    """Turns domain errors and usage errors into one clear line instead of a traceback."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's one-line summary whole (click cuts them at ~45 characters), wrapped."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            if _shows_help(exc):
                raise
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JobsError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except click.UsageError as exc:
            if _shows_help(exc):
                raise
            raise _one_line(exc) from None
        except (click.exceptions.Exit, BrokenPipeError):
            raise  # click ends these well (BrokenPipe: `gjobs list | head`)
        except click.ClickException as exc:  # click would print `Error: ...`
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:  # Ctrl-C or end of input at a prompt: click would print `Aborted!`
            _fail("aborted: nothing was changed", 1)
        except Exception as exc:  # a bug: one line, the traceback only on request
            if os.environ.get("JOBS_DEBUG"):
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (set JOBS_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(
    cls=JobsGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  gjobs submit "Explain in two sentences why the sky is blue."
  cat notes.md | gjobs submit "Summarise this"
  gjobs worker                 # records results; or, from cron: gjobs poll --once
  gjobs list
  gjobs show @last             # the newest job; any unique id prefix works too

`gjobs` and `jobs` are the same program (`jobs` alone is a builtin of bash and zsh; see
`gjobs shell-init --help`).""",
)
@click.version_option(__version__, prog_name=PROG_NAME)
@click.option("-v", "--verbose", is_flag=True, help="Log what the runner does to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Run and track long Gemini Interactions API jobs in the background."""
    from jobs.cli.context import CliContext

    if not isinstance(ctx.obj, CliContext):
        ctx.obj = CliContext()
    if verbose:
        ctx.obj.setup_logging(logging.DEBUG)
    ctx.call_on_close(ctx.obj.close)


# Each module lists its click commands (and groups) in COMMANDS; one module per command group.
_COMMAND_MODULES = (
    "submit_cmds",
    "jobs_cmds",
    "follow_cmds",
    "ops_cmds",
    "shell_cmds",
    "recovery_cmds",
    "batch_cmds",
    "schedule_cmds",
    "report_cmds",
    "webhooks_cmds",
    "serve_cmd",
)


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        for command in importlib.import_module(f"jobs.cli.{name}").COMMANDS:
            cli.add_command(command)
    cli.add_command(
        _LazyEmulator(
            name="emulator", help="Serve a local emulator of the Gemini Interactions API."
        ),
        "emulator",
    )


class _LazyEmulator(click.Command):
    """`jobs emulator`, loaded when used: the emulator's modules cost ~0.6 s to import, which
    every other command (`jobs list` above all) would otherwise pay."""

    def _real(self) -> click.Command:
        from jobs.cli.emulator import emulator_command

        return emulator_command

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        return self._real().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self._real().invoke(ctx)


_register()


def main() -> None:
    # One name in usage lines and hints whatever the program was started as (jobs, gjobs,
    # python -m jobs), and one completion variable for all of them.
    cli(prog_name=PROG_NAME, complete_var="_GJOBS_COMPLETE")
