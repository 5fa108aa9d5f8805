"""Shell integration: `gjobs shell-init bash|zsh` and `gjobs completion bash|zsh|fish`.

`jobs` is a builtin of bash and zsh (and a builtin wins over $PATH), so the program is also called
`gjobs`. `shell-init` prints a shell function `jobs` that hands the job-control forms (`jobs`,
`jobs -l`, `jobs -p`, `jobs %1`, ...) to the builtin and everything else to the program, plus the
completion of both names. It is opt-in: one line in ~/.bashrc or ~/.zshrc.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

import click
from click.shell_completion import get_completion_class

COMPLETE_VAR = "_GJOBS_COMPLETE"

# The builtin's own options (bash: -l -n -p -r -s -x; zsh adds -d -Z): these forms, a bare `jobs`
# and a job spec (%1, %+, %name) stay job control; every other first word goes to the program.
_BUILTIN_FORMS = {"bash": "-[lnprsx]*", "zsh": "-[lnprsdZ]*"}

_FUNCTION = """\
# gjobs shell integration ({shell}): `jobs SUBCOMMAND ...` runs the gjobs program; `jobs`,
# `jobs -l`, `jobs -p`, `jobs %1` ... stay the shell's job control.
jobs() {{
  case "${{1-}}" in
    ""|%*|{builtin_forms}) builtin jobs "$@" ;;
    *) command {program} "$@" ;;
  esac
}}
"""


def _program() -> str:
    """How the function calls the program: `gjobs` if the shell finds it, else its full path."""
    found = shutil.which("gjobs")
    if found:
        return "gjobs"
    sibling = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "gjobs")
    if os.access(sibling, os.X_OK):
        return shlex.quote(sibling)
    return f"{shlex.quote(sys.executable)} -m jobs"


def completion_source(shell: str) -> str:
    from jobs.cli import cli

    completion = get_completion_class(shell)
    assert completion is not None
    return completion(cli, {}, "gjobs", COMPLETE_VAR).source()


@click.command("shell-init")
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def shell_init(shell: str) -> None:
    """Print the opt-in shell integration: a `jobs` function, and completion for both names.

    \\b
    Add one line to your shell's rc file:
      echo 'eval "$(gjobs shell-init bash)"' >> ~/.bashrc
      echo 'eval "$(gjobs shell-init zsh)"' >> ~/.zshrc
    Then `jobs list` runs this program, while `jobs`, `jobs -l`, `jobs -p` and `jobs %1` stay
    the shell's job control. Without it, use `gjobs` (the same program).
    """
    click.echo(
        _FUNCTION.format(shell=shell, builtin_forms=_BUILTIN_FORMS[shell], program=_program())
    )
    source = completion_source(shell)
    click.echo(source)
    program = _program()
    if shell == "bash":  # click's function runs its $1: make that the program for `jobs`
        click.echo(f"_gjobs_function_completion() {{ _gjobs_completion {program}; }}")
        click.echo("complete -o nosort -F _gjobs_function_completion jobs")
    else:
        click.echo("(( $+functions[compdef] )) && compdef _gjobs_completion jobs")


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script (commands, options, job ids, statuses).

    \\b
    Examples:
      eval "$(gjobs completion bash)"              # in ~/.bashrc
      eval "$(gjobs completion zsh)"               # in ~/.zshrc, after compinit
      gjobs completion fish > ~/.config/fish/completions/gjobs.fish
    (`gjobs shell-init bash|zsh` includes it.)
    """
    click.echo(completion_source(shell))


COMMANDS = (shell_init, completion)
