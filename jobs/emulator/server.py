"""Running the emulator: in-process on a free loopback port (tests, `jobs demo`) or blocking (CLI).

The socket is bound before uvicorn starts, so the port (and `base_url`) is known at once and a busy
port fails fast with OSError. uvicorn runs in a daemon thread with logging left to the host process
(no access log); `stop()` ends open streams and held replies first, so shutting down takes a few
tenths of a second and leaves no thread behind.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from jobs.emulator.backend import EmulatorBackend
from jobs.emulator.http import EmulatorApp
from jobs.emulator.webhooks import Dispatcher
from jobs.serving import START_TIMEOUT, bind, run_in_thread, wait_started


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: EmulatorApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,  # leave the host's logging alone
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="auto",  # httptools when installed (a dependency: ~2x the h11 rate), else h11
        ws="none",
        timeout_graceful_shutdown=1,
        server_header=False,
    )


class EmulatorServer:
    """The emulator on a loopback port, in a background thread. Use as a context manager."""

    def __init__(
        self,
        backend: EmulatorBackend | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **backend_kwargs: Any,
    ) -> None:
        if backend is not None and backend_kwargs:
            raise TypeError("pass either a backend or backend keyword arguments, not both")
        self.backend = backend or EmulatorBackend(**backend_kwargs)
        self.app = EmulatorApp(self.backend)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.dispatcher = Dispatcher(self.backend)  # webhook deliveries
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """The URL to give the SDK, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        return _base_url(self.host, self.port)

    def start(self) -> EmulatorServer:
        """Bind, start serving, and return once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator server is already running")
        self._sock = bind(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self.app.stopping.clear()
        server = uvicorn.Server(_config(self.app))
        thread = run_in_thread(server, self._sock, name=f"jobs-emulator-{self.port}")
        self._server, self._thread = server, thread
        self.dispatcher.start()
        if not wait_started(server, thread):
            self.stop()
            raise RuntimeError("the emulator server did not start")
        return self

    def stop(self) -> None:
        """Stop serving; returns when the server thread has ended."""
        self.app.stopping.set()
        self.dispatcher.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    backend: EmulatorBackend | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C). `on_ready(base_url)` runs once the port is bound."""
    app = EmulatorApp(backend or EmulatorBackend())
    sock = bind(host, port)
    dispatcher = Dispatcher(app.backend)
    try:
        if on_ready is not None:
            on_ready(_base_url(host, sock.getsockname()[1]))
        dispatcher.start()
        uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        app.stopping.set()
        dispatcher.stop()
        sock.close()
