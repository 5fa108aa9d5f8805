"""The README's tour, run for real: parse its blocks, run them in `bash`, compare what it printed.

A tour block is a ```console block right after a `<!-- tour -->` line. In it, `$ ` starts a command
and the lines up to the next command are what it prints. The runner writes one bash script: each
command as the README shows it, then a marker carrying its exit status; bash's output (stdout and
stderr together, as on a terminal) goes to a file. Two README conventions become waits a person
does by eye:

- a command ending in `&` (the emulator) is followed by a wait for the banner it prints;
- a command whose output ends in `^C` (the worker) runs until no job is active, then gets SIGINT.

The one change made to the README's text: the line `PORT=8765` gets a free port instead.

Comparison: each README output line must match an actual line of that command, in order (other
actual lines may come between). Volatile parts match anything of their kind: job ids (the ones the
README shows), interaction ids, numbers (times, ages, tokens, ports), paths and URLs, the cut end of
a truncated cell (`…`), and the length of box-drawing rules. Lines of `…` or `...` alone in the
README are elisions and match nothing.
"""

from __future__ import annotations

import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path

TOUR_MARK = "<!-- tour -->"
MARKER = "@@tour-step"
ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)

    @property
    def background(self) -> bool:
        return self.command.rstrip().endswith("&")

    @property
    def interrupted(self) -> bool:
        return any(line.strip() == "^C" for line in self.expected)


def tour_steps(readme: str) -> list[Step]:
    """The commands of every tour block, with the lines the README shows each printing."""
    steps: list[Step] = []
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == TOUR_MARK:
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            i += 1
            while not lines[i].startswith("```"):
                line = lines[i]
                if line.startswith("$ "):
                    steps.append(Step(line[2:]))
                elif steps and line.strip():
                    steps[-1].expected.append(line)
                i += 1
        i += 1
    return steps


def readme_job_ids(steps: list[Step]) -> set[str]:
    """The job ids the README shows: first words of the lines `submit` and `list` print."""
    ids = set()
    for step in steps:
        words = step.command.split()
        if len(words) > 1 and words[0] in ("gjobs", "jobs") and words[1] in ("submit", "list"):
            for line in step.expected:
                first = line.split()[0] if line.split() else ""
                if len(first) == 6 and all(c in ID_ALPHABET for c in first):
                    ids.add(first)
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the script --------------------------------------------------------------------------------

_PRELUDE = r"""
set -u
__wait_for_text() {  # a person waits until they see the banner
  local deadline=$((SECONDS + 120))
  until grep -q -- "$1" "$TOUR_OUT"; do
    if grep -q "^error:" "$TOUR_OUT" || ((SECONDS > deadline)); then return 1; fi
    sleep 0.2
  done
}
__wait_idle() {  # ... or until every job has ended, before pressing Ctrl-C
  local deadline=$((SECONDS + 600))
  until [ "$(gjobs list --status pending,submitting,queued,in_progress,unknown --json 2>/dev/null)" = "[]" ]; do
    ((SECONDS > deadline)) && return 1
    sleep 1
  done
}
__stop() {  # Ctrl-C; once more if it is still running after 20 s (see SIGINTS in the output)
  local n
  for n in 1 2 3; do
    kill -INT "$1" 2>/dev/null || break
    echo "@@tour-sigint $n" >> "$TOUR_OUT.signals"
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break 2; sleep 0.2; done
  done
  wait "$1"
}
"""


def script(steps: list[Step], port: int) -> str:
    out = [_PRELUDE]
    for number, step in enumerate(steps):
        command = re.sub(r"^PORT=8765\b", f"PORT={port}", step.command)
        out.append(f"echo {shlex.quote(f'{MARKER} {number} start')}")
        if step.background:
            out.append(command)
            banner = step.expected[-1].strip() if step.expected else ""
            out.append(f"__wait_for_text {shlex.quote(banner)}; __rc=$?")
        elif step.interrupted:
            out.append(f"{command} &")
            out.append("__pid=$!; __wait_idle; __rc=$?; __stop $__pid || __rc=$?")
        else:
            out.append(command)
            out.append("__rc=$?")
        # On a line of its own even if the output did not end with a newline.
        out.append(f'printf "\\n{MARKER} {number} rc=%s\\n" "$__rc"')
    out.append("kill %1 2>/dev/null; wait")
    return "\n".join(out) + "\n"


def split_output(text: str) -> dict[int, tuple[list[str], int | None]]:
    """What each step printed, and its exit status, from the markers."""
    outputs: dict[int, tuple[list[str], int | None]] = {}
    current: int | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = re.match(rf"^{MARKER} (\d+) (start|rc=(\d+))$", line)
        if not match:
            if current is not None:
                lines.append(line)
            continue
        number = int(match.group(1))
        if match.group(2) == "start":
            current, lines = number, []
        else:
            outputs[number] = (lines, int(match.group(3)))
            current = None
    if current is not None:
        outputs[current] = (lines, None)
    return outputs


# -- comparing ---------------------------------------------------------------------------------


def is_elision(line: str) -> bool:
    inner = line.strip().strip("│").strip()
    return inner in ("…", "...", "^C")


def line_pattern(line: str, ids: set[str]) -> re.Pattern[str]:
    """A README output line as a pattern that ignores what changes from run to run."""
    tokens: list[str] = []
    # Cut cells end in `…`: the word before and the cut word may differ with column widths.
    line = re.sub(r"(\S+\s)?\S*…", "\x00ELLIPSIS\x00", line.rstrip())
    for part in re.split(r"(\s+)", line.strip()):
        if not part:
            continue
        if part.isspace():
            tokens.append(r"\s+")
        else:
            tokens.append(_token_pattern(part, ids))
    return re.compile("".join(tokens))


def _token_pattern(word: str, ids: set[str]) -> str:
    if "/" in word:
        return r"\S+"  # a path or a URL
    pattern = _pieces_pattern(word, ids)
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]{3,}", word) and not _is_id(word, ids):
        # A word the actual table may cut to fit (`deep-research-preview-04-20…`).
        cuts = "|".join(re.escape(word[:n]) + "…" for n in range(3, len(word)))
        return f"(?:{pattern}|{cuts})"
    return pattern


def _is_id(word: str, ids: set[str]) -> bool:
    return word in ids or (len(word) == 6 and any(c.isdigit() for c in word))


def _pieces_pattern(word: str, ids: set[str]) -> str:
    pattern = ""
    for piece in re.split(r"(\x00ELLIPSIS\x00|int_[0-9a-f]+|worker:\S+|─+)", word):
        if not piece:
            continue
        if piece == "\x00ELLIPSIS\x00":
            pattern += r".*"
        elif piece.startswith("int_"):
            pattern += r"int_[0-9a-f]+"
        elif piece.startswith("worker:"):
            pattern += r"worker:\S+"
        elif piece.startswith("─"):
            pattern += "─+"
        else:
            pattern += _plain_pattern(piece, ids)
    return pattern


def _plain_pattern(text: str, ids: set[str]) -> str:
    out = ""
    for piece in re.split(r"([2-9a-z]{6}|\d[\d,.:]*[a-z]{0,2}(?:\d+[a-z])?)", text):
        if not piece:
            continue
        if piece in ids:
            out += f"[{ID_ALPHABET}]{{6}}"
        elif piece[0].isdigit():
            out += r"\d[\d,.:]*[a-z]{0,2}(?:\d+[a-z])?"
        else:
            out += re.escape(piece)
    return out


def mismatch(expected: list[str], actual: list[str], ids: set[str]) -> str | None:
    """None if every README line is found in order in the actual output; else what is missing."""
    position = 0
    for line in expected:
        if is_elision(line):
            continue
        pattern = line_pattern(line, ids)
        for index in range(position, len(actual)):
            if pattern.fullmatch(actual[index].strip()):
                position = index + 1
                break
        else:
            return f"the README says:\n    {line.strip()}\nand no line after line {position} matches it"
    return None


def report(step: Step, actual: list[str], problem: str) -> str:
    shown = "\n".join(f"    {line}" for line in actual) or "    (nothing)"
    return f"tour step `$ {step.command}`: {problem}\nwhat it printed:\n{shown}"


def read_readme() -> str:
    return (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
