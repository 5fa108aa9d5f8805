"""The `jobs` command line. Thin: parse, call the service, render."""

from __future__ import annotations

import click

from jobs import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobs")
def cli() -> None:
    """Run and track long Gemini Interactions API jobs in the background."""


def main() -> None:
    from jobs.cli.emulator import emulator_command

    cli.add_command(emulator_command, "emulator")
    cli()
