"""Fixtures for the emulator's tests: a fake clock, a backend, and one HTTP server per session.

Starting a server takes milliseconds but stopping one takes about 0.2 s, so the suite shares one
server and gives every test a fresh state (`backend.reset`) and a fresh FakeClock. Tests that need
a differently configured server (a required key, say) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_checks import make_client
from google import genai
from sdk_api import AsyncApi, SyncApi

from jobs.clock import FakeClock
from jobs.emulator import EmulatorBackend, EmulatorServer

ENV_VARS = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_DEBUG",
)


@pytest.fixture(autouse=True)
def _no_real_google_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, base URL or mode from the developer's environment reaches a test."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> EmulatorBackend:
    """A backend on the fake clock, for plain-Python tests."""
    return EmulatorBackend(clock=clock)


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(clock=FakeClock()) as server:
        yield server


@pytest.fixture
def emulator(_shared_server: EmulatorServer, clock: FakeClock) -> EmulatorServer:
    """The emulator over HTTP, reset, on this test's fake clock (`emulator.backend.clock`)."""
    _shared_server.backend.reset(clock=clock)
    return _shared_server


@pytest.fixture
def client(emulator: EmulatorServer) -> genai.Client:
    """The google-genai SDK pointed at the emulator, with its automatic retries turned off."""
    return make_client(emulator.base_url)


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, emulator: EmulatorServer) -> SyncApi | AsyncApi:
    """The SDK's sync or async Interactions resource behind one face (see sdk_api.py)."""

    def make() -> genai.Client:
        return make_client(emulator.base_url)

    return SyncApi(make) if request.param == "sync" else AsyncApi(make)
