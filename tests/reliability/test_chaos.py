"""The chaos campaign (benchmarks/chaos.py) at a small size, so CI runs it too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHAOS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"
LINE = re.compile(
    r"^chaos: jobs=(\d+) lost=(\d+) duplicated_creates=(\d+) submit_unknown=(\d+) kills_survived=(\d+) seconds=(\d+)$"
)


def test_chaos_campaign_small(tmp_path):
    args = [
        "--jobs",
        "40",
        "--workers",
        "2",
        "--kills",
        "6",
        "--submitters",
        "2",
        "--crash-submitters",
        "2",
        "--storm-at",
        "1",
        "--storm",
        "2",
        "--seed",
        "7",
        "--timeout",
        "240",
    ]
    done = subprocess.run(
        [sys.executable, str(CHAOS), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    match = LINE.match(lines[0])
    assert match, lines[0]
    jobs, lost, duplicated, _unknown, kills, _seconds = map(int, match.groups())
    assert done.returncode == 0, done.stdout + done.stderr
    assert jobs == 40 and lost == 0 and duplicated == 0 and kills >= 6
