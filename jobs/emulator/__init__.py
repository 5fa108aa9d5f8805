"""A local emulator of the Gemini Interactions API, faithful enough for the real google-genai SDK.

    from jobs.emulator import EmulatorServer

    with EmulatorServer(speed=600) as server:
        client = genai.Client(api_key="any", http_options=types.HttpOptions(base_url=server.base_url))

State lives in `EmulatorBackend` (plain Python, driven by an injectable clock); `EmulatorApp` is the
HTTP translation; `FaultPlan` (at `backend.faults`) injects failures. See docs/emulator.md.
"""

from jobs.emulator.backend import EmulatorBackend, EventBatch, Reply
from jobs.emulator.errors import EmulatorError
from jobs.emulator.faults import FaultPlan, FaultRule
from jobs.emulator.http import EmulatorApp, create_app
from jobs.emulator.server import EmulatorServer, serve

__all__ = [
    "EmulatorApp",
    "EmulatorBackend",
    "EmulatorError",
    "EmulatorServer",
    "EventBatch",
    "FaultPlan",
    "FaultRule",
    "Reply",
    "create_app",
    "serve",
]
