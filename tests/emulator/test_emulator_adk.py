"""google-adk's Interactions sample agent (a function tool) against the emulator, in non-streaming
and streaming modes. google-adk needs google-genai < 3 (the project pins 3.4), so it lives in a venv
of its own; name its python in JOBS_ADK_PYTHON to run this test (see scripts/adk_interactions_check.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.emulator import EmulatorServer

ADK_PYTHON = os.environ.get("JOBS_ADK_PYTHON", "")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "adk_interactions_check.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ADK_PYTHON,
        reason="google-adk is not installed: it needs google-genai<3, so set JOBS_ADK_PYTHON to the "
        "python of a separate venv with `pip install google-adk`",
    ),
]


def test_adk_agent_with_a_function_tool_in_both_modes():
    with EmulatorServer() as server:  # the system clock: ADK waits in real time
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
        done = subprocess.run(
            [ADK_PYTHON, str(SCRIPT), "--base-url", server.base_url],
            capture_output=True, text=True, timeout=180, env=env,
        )  # fmt: skip
        stats = server.backend.stats()
    sys.stdout.write(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("non-streaming: ok") for line in lines)
    assert any(line.startswith("streaming: ok") for line in lines)
    assert stats["requests"]["create"] >= 4  # a call and a function result, in each mode
