"""Issue 8, hostile and huge content in `show`: a Markdown link in model output never becomes a
terminal hyperlink whose text lies about its target, and a huge output costs what is shown."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
LYING_LINK = "[https://accounts.google.com/](https://evil.example/phish)"


def _on_a_tty(home, *args: str) -> bytes:
    """What `jobs ARGS` writes to a real pseudo-terminal (rich detects a TTY there)."""
    master, slave = pty.openpty()
    env = {**os.environ, "JOBS_HOME": str(home), "COLUMNS": "100", "LINES": "50"}
    env["TERM"] = "xterm-256color"
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from jobs.cli import main; main()", *args],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=home,  # not the checkout: `-c` puts the working directory first on sys.path
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0, seen[-2000:]
    return seen


def test_a_markdown_link_in_model_output_is_no_lying_hyperlink_on_a_tty(cli, home, drive):
    job = cli.submit(f"Please log in at {LYING_LINK} now.")
    drive(job["id"])
    assert LYING_LINK in cli.json("show", job["id"])["output_text"]  # the model said it
    shown = _on_a_tty(home, "show", job["id"])
    assert b"\x1b[" in shown  # a real terminal: styles are on
    assert b"\x1b]8;" not in shown  # ... but no OSC 8 hyperlink at all
    text = ANSI.sub(b"", shown).decode()
    # the real target is shown, beside the text that names it
    assert "https://evil.example/phish" in text and "https://accounts.google.com/" in text


def test_show_of_a_huge_output_renders_a_part_with_a_note(cli, emulator, drive):
    emulator.backend.configure(output_bytes=3_000_000)
    job = cli.submit("Write a very long report.")
    drive(job["id"])
    total = len(cli.json("show", job["id"])["output_text"])
    started = time.monotonic()
    out = cli("show", job["id"]).stdout
    took = time.monotonic() - started
    assert len(out) < 400_000  # a part, not 3 MB of rendering
    flat = " ".join(out.split())
    assert f"of {total:,} characters" in flat and f"show {job['id']} --raw" in flat
    assert took < 30, took  # today: ~15 s for 3 MB, 106 s for 20 MB, growing with the size
    assert len(cli("show", "--raw", job["id"]).stdout_bytes) == 3_000_000
