"""The page under test: `gjobs serve`'s WebServer (uvicorn in a thread, the worker in another) on
the test's FakeClock and the shared emulator, and a real headless Chromium driven by Playwright.

Time is the FakeClock's: nothing on the emulator happens until a test advances it, so "the turn is
still running" is a state a test holds for as long as it likes, and the tests do not depend on the
machine's speed. `advance_until(cond)` moves the clock a few simulated seconds at a time until the
page (or the store) shows what the test waits for.

Screenshots go to $JOBS_TEST_ARTIFACTS (default: test-artifacts/web in the repository), printed
at the end of the run. Browser tests are skipped, with that reason, only when /usr/bin/chromium
is absent (`.ci/run` installs it from Debian).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from waiting import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(
    os.environ.get("JOBS_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
)
_saved: list[Path] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if _saved:
        terminalreporter.write_line(f"web page screenshots ({len(_saved)}) in {ARTIFACTS}")


@pytest.fixture
def web_db_url() -> str | None:
    """The store of the page under test: SQLite in tmp_path (a module may ask for both backends)."""
    return None


@pytest.fixture
def web_settings(make_settings, web_db_url):
    # Polls are due at once (min interval 0.2 s of fake time) so each advance shows up quickly.
    return make_settings(web_db_url, **{"polling.min_interval": 0.2, "worker.tick": 0.05})


@pytest.fixture
def web(web_settings, clock, emulator) -> Iterator:
    """The page's server with its own worker, on the test's clock. `.url`, `.app` (the page's
    App: service, store), `.guard`."""
    from jobs.app import build_app
    from jobs.web.security import Guard
    from jobs.web.server import WebServer

    app = build_app(web_settings, clock=clock, kind="web")
    worker_app = build_app(web_settings, clock=clock, kind="worker")
    app.service.gateway_ready()
    worker_app.service.gateway_ready()
    server = WebServer(app, Guard(), worker_app=worker_app, worker_tick=0.05, interval=0.05).start()
    try:
        yield server
    finally:
        # Let every interaction end, so the worker's open streams end too instead of waiting
        # out their read timeout when it stops.
        clock.advance(7200)
        server.stop()
        app.close()
        worker_app.close()


@pytest.fixture
def advance_until(clock) -> Callable:
    """Advance the fake clock `step` simulated seconds at a time until `condition()` is truthy."""

    def run(condition: Callable, *, step: float = 2.0, timeout: float = 30.0, what: str = ""):
        def tick():
            value = condition()
            if not value:
                clock.advance(step)
                time.sleep(0.02)  # give the worker thread and the page a moment
            return value

        return wait_for(tick, timeout=timeout, what=what or "the page", interval=0.01)

    return run


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: `apt-get install -y chromium` (as .ci/run does)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install '.[test]')"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProbe:
    """A browser tab on the page, with the errors it logged and a screenshot helper."""

    def __init__(self, page, name: str) -> None:
        self.page = page
        self.name = name
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path))
        _saved.append(path)
        return path


@pytest.fixture
def open_page(chromium, web, request) -> Iterator[Callable]:
    """Open the page in a new browser context (its own storage): `open_page(width, height)`."""
    contexts = []
    probes: list[PageProbe] = []

    def run(*, width: int = 1400, height: int = 860, url: str | None = None, context=None):
        if context is None:
            context = chromium.new_context(viewport={"width": width, "height": height})
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        probe = PageProbe(page, request.node.name)
        probes.append(probe)
        page.goto(url or web.url)
        page.wait_for_selector("#conn[data-state=live]")
        return probe

    yield run
    for context in contexts:
        context.close()
    for probe in probes:
        assert not probe.errors, probe.errors
