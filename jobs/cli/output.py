"""How results reach stdout: a pager for long output on a terminal, plain lines when piped."""

from __future__ import annotations

import json
import os
import sys

import click
from rich.console import Console, RenderableType


def print_plain_when_piped(console: Console, renderable: RenderableType) -> None:
    """On a terminal, as rich lays it out; piped, the same text without the spaces that pad each
    line to the console's width (they only get in the way of `grep`, `cut` and diffs)."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as capture:
        console.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in capture.get().splitlines()))


def page_if_long(console: Console, renderable: RenderableType, *, enabled: bool = True) -> None:
    """Print, through a pager ($PAGER, else `less`) when the output is longer than a terminal
    screen; never when stdout or stdin is not a terminal, nor when `enabled` is False
    (`--no-pager`, or JOBS_PAGER=0)."""
    if not (enabled and _may_page(console)):
        print_plain_when_piped(console, renderable)
        return
    with console.capture() as capture:
        console.print(renderable)
    text = capture.get()
    if text.count("\n") < console.height:
        sys.stdout.write(text)
        return
    import pydoc

    # less: -R passes colours through, -F quits at once if it all fits after all, -X keeps the
    # text on the screen afterwards. A user's own LESS is left alone.
    os.environ.setdefault("LESS", "FRX")
    sys.stdout.flush()
    pydoc.pager(text)


def _may_page(console: Console) -> bool:
    if os.environ.get("JOBS_PAGER", "").lower() in ("0", "no", "off", "false"):
        return False
    try:
        return console.is_terminal and sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def echo_json(value: object) -> None:
    """A result as JSON on stdout (indented; non-ASCII text as it is)."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))
