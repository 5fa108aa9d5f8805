"""The README's tour, pasted into a real `bash`, prints what the README says it prints."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tour

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent


def run_tour(tmp_path: Path, readme: str) -> tuple[list[tour.Step], dict, str]:
    steps = tour.tour_steps(readme)
    assert steps, "the README has no <!-- tour --> block"
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "tour.out"
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),  # a newcomer's machine: the default JOBS_HOME under it
        "LANG": "C.UTF-8",
        "COLUMNS": "100",
        "LINES": "50",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "TOUR_OUT": str(out),
    }
    (tmp_path / "home").mkdir()
    script = tmp_path / "tour.sh"
    script.write_text(tour.script(steps, tour.free_port()))
    with open(out, "w") as sink:
        process = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", str(script)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=1200)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    text = out.read_text(encoding="utf-8", errors="replace")
    if os.environ.get("README_TOUR_CAPTURE"):
        Path(os.environ["README_TOUR_CAPTURE"]).write_text(text, encoding="utf-8")
    return steps, tour.split_output(text), text


def test_the_tour_works_pasted_into_bash(tmp_path):
    steps, outputs, text = run_tour(tmp_path, tour.read_readme())
    ids = tour.readme_job_ids(steps)
    for number, step in enumerate(steps):
        assert number in outputs, f"the tour stopped before `$ {step.command}`:\n{text[-3000:]}"
        actual, rc = outputs[number]
        assert rc == 0, tour.report(step, actual, f"exit status {rc}")
        problem = tour.mismatch(step.expected, actual, ids)
        assert problem is None, tour.report(step, actual, problem)
    signals = Path(f"{tmp_path / 'tour.out'}.signals")
    sent = signals.read_text().count("@@tour-sigint") if signals.exists() else 0
    assert sent <= 1, f"the worker needed {sent} Ctrl-C to stop"
    assert "Traceback" not in text
    assert " INFO " not in text and "WARNING" not in text  # no raw log records (e.g. on Ctrl-C)
