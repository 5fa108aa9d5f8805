"""The webhook receiver's HTTP face: `POST /webhooks/interactions`, for `gjobs serve`, the worker's
`--webhook-port` and `gjobs webhooks listen`.

Only translation happens here: the raw body and headers go to `service.webhooks.receive` (in a
thread: it verifies, writes to the store and makes one API call), whose receipt becomes the reply.
A 2xx tells the API not to send the delivery again; a refused delivery gets 401 (400 for a
malformed body, 503 when the API's keys cannot be fetched, so it is retried later).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jobs.service.webhooks import PATH

MAX_BODY = 1 << 20  # deliveries are thin; anything larger is not one


def webhook_routes(service_factory: Callable[[], Any]) -> list[Route]:
    """The receiver's routes; `service_factory()` returns the JobService to record with."""

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"outcome": "refused", "reason": "body too large"}, status_code=413)
        service = service_factory()
        receipt = await run_in_threadpool(service.webhooks.receive, dict(request.headers), body)
        return JSONResponse({"outcome": receipt.outcome}, status_code=receipt.status)

    return [Route(PATH, receive, methods=["POST"])]


def webhook_app(service_factory: Callable[[], Any]) -> Any:
    """A Starlette app serving only the receiver (the worker's listener)."""
    from starlette.applications import Starlette

    return Starlette(routes=webhook_routes(service_factory))


class WebhookListener:
    """The receiver on a port, in a daemon thread (for `gjobs worker --webhook-port`)."""

    def __init__(self, service_factory: Callable[[], Any], host: str, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(
            webhook_app(service_factory),
            host=host,
            port=port,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
        )
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._thread: Any = None

    def start(self) -> WebhookListener:
        import socket
        import threading
        import time

        # bound here, so a busy port fails at once and port 0 gives a known free port
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self._sock]},
            name="jobs-webhooks",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"cannot listen for webhooks on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if getattr(self, "_sock", None) is not None:
            self._sock.close()
