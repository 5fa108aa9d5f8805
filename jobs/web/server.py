"""Running the page: uvicorn on a bound socket, and the worker in the same process.

`WebServer.start()` serves in a background thread (tests); `serve_forever()` blocks (the CLI) until
Ctrl-C / SIGTERM. The worker runs in its own thread with its own App (lease owner `worker:...`), so
one command is enough to use the page; `worker=False` leaves that to a `gjobs worker` elsewhere.
On the way out open event streams end first, then uvicorn, then the worker finishes its pass.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from jobs.app import App
from jobs.serving import START_TIMEOUT, bind, run_in_thread, wait_started
from jobs.web import create_web_app
from jobs.web.security import Guard

log = logging.getLogger(__name__)
PAGE_TICK = 0.5  # seconds between the serve worker's passes (or worker.tick, if shorter)


def page_url(host: str, port: int, guard: Guard) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
    return f"{base}?token={guard.access_token}" if guard.access_token else base


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising Ctrl-C / SIGTERM once it has shut down: stopping the page is a
    clean exit of `gjobs serve`, not a death by signal."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


class WebServer:
    def __init__(
        self,
        app: App,
        guard: Guard,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        worker_app: App | None = None,
        worker_tick: float | None = None,
        interval: float = 0.25,
    ) -> None:
        self.app = app
        self.guard = guard
        self.host = host
        self.port = port
        self.worker_app = worker_app
        self.worker_tick = worker_tick
        self.stopping = threading.Event()
        self.asgi = create_web_app(app, guard, stopping=self.stopping, interval=interval)
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._worker: Any = None
        self._worker_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return page_url(self.host, self.port, self.guard)

    def _prepare(self) -> uvicorn.Server:
        self._sock = bind(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self.asgi,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = _Server(config)
        return self._server

    def start_worker(self, on_pass: Callable[[Any], None] | None = None) -> None:
        """The worker in background threads: its tracker (streams into the journal, overlapping
        polls, the watchdog) and a pass every tick for submissions and new streams, as `gjobs
        worker` does. (Its APScheduler ticker is for a process of its own: on a test's FakeClock
        it would replay every tick it thinks it missed.)"""
        if self.worker_app is None:
            return
        from jobs.worker import Worker

        worker = Worker(self.worker_app.service)
        # A pass at least every PAGE_TICK: a message that waits for its predecessor is sent
        # within that of the predecessor's end (the tracker records ends as they stream in).
        tick = self.worker_tick or min(PAGE_TICK, float(self.worker_app.settings["worker.tick"]))
        stop = threading.Event()

        def loop() -> None:
            worker.tracker.start()
            try:
                while not stop.is_set():
                    report = worker.poll_once(background=True)
                    if on_pass is not None:
                        on_pass(report)
                    stop.wait(tick)
            except Exception:  # a bug must not pass unnoticed in a thread
                log.exception("the worker thread stopped")
                raise
            finally:
                worker.tracker.stop()
                worker.mark_stopped()

        thread = threading.Thread(target=loop, name="jobs-serve-worker", daemon=True)
        self._worker, self._worker_thread = stop, thread
        thread.start()

    def start(self) -> WebServer:
        """Serve in a background thread; returns once connections are accepted."""
        server = self._prepare()
        assert self._sock is not None
        self._thread = run_in_thread(server, self._sock, name="jobs-web")
        if not wait_started(server, self._thread):
            self.stop()
            raise RuntimeError("the web server did not start")
        self.start_worker()
        return self

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until Ctrl-C / SIGTERM (uvicorn's own signal handling)."""
        server = self._prepare()
        self.start_worker()
        if on_ready is not None:
            original_startup = server.startup

            async def startup(sockets: Any = None) -> None:
                await original_startup(sockets=sockets)
                on_ready(self.url)

            server.startup = startup  # type: ignore[method-assign]
        # uvicorn waits for open responses at shutdown: end the event streams as it starts to.
        original_shutdown = server.shutdown

        async def shutdown(sockets: Any = None) -> None:
            self.stopping.set()
            await original_shutdown(sockets=sockets)

        server.shutdown = shutdown  # type: ignore[method-assign]
        try:
            server.run(sockets=[self._sock])
        finally:
            self.stop()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=START_TIMEOUT)
        if self._worker is not None:
            self._worker.set()  # the pass in progress finishes first
            if self._worker_thread is not None:
                self._worker_thread.join(timeout=START_TIMEOUT)
            self._worker = self._worker_thread = None
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
