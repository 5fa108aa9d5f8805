"""The HTTP face of the emulator: a Starlette app that only translates.

Requests become backend calls (`perform`), `EmulatorError`s become Google-style error bodies, and
a backend `EventBatch` becomes Server-Sent Events. The only logic here is about the wire itself:
authentication headers, query strings, holding or garbling a reply when the fault plan says so,
and cutting a stream. Control endpoints live under `/_emulator/` and need no API key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jobs.clock import SystemClock
from jobs.emulator.backend import EmulatorBackend, Reply
from jobs.emulator.errors import EmulatorError, invalid_argument
from jobs.emulator.faults import StreamFaults
from jobs.emulator.files_http import FilesHttp

POLL = 0.02  # seconds between looks at the clock while a stream waits for its next event
RECHECK = 0.5  # seconds after which a waiting stream asks again anyway (cancel, delete)
KEEPALIVE = 5.0  # seconds of silence after which a stream sends a comment line
# What a front end writes when it drops a long stream (interactions-api.md section 12).
TEXT_503 = b"503 Service Unavailable\n\nupstream connect error or disconnect/reset before headers\n"
HTML_502 = (
    b"<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 502 (Server Error)!!1</title>"
    b"<p><b>502.</b> <ins>That's an error.</ins><p>The server encountered a temporary error and "
    b"could not complete your request.<p>Please try again in 30 seconds. <ins>That's all we know."
    b"</ins>\n"
)


class _CutStreamFilter(logging.Filter):
    """uvicorn logs an error when a response is left incomplete; for a cut stream that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_CutStreamFilter())


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers, media_type="application/json")


def _sse(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['event_type']}\nid: {event['event_id']}\ndata: {data}\n\n".encode()


def _flag(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise invalid_argument(f"Invalid value for query parameter '{name}': {value!r}.", field=name)


def _api_key(request: Request) -> str | None:
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    return key


class EventStream:
    """An SSE reply that replays the events so far and follows the interaction until it ends."""

    def __init__(
        self,
        app: EmulatorApp,
        interaction_id: str,
        start: int,
        faults: StreamFaults | None = None,
    ) -> None:
        self.app, self.interaction_id, self.start = app, interaction_id, start
        self.faults = faults or StreamFaults()
        self.cut = (
            (self.faults.cut_after_events, self.faults.cut_mode)
            if self.faults.cut_after_events is not None
            else None
        )
        self.keepalive = app.keepalive

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            if await self._pump(send, gone) == "abort":
                return  # leave the chunked body unfinished: the client sees a broken stream
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    async def _cut(self, send: Any, mode: str) -> str:
        if mode == "text_503":
            await send({"type": "http.response.body", "body": TEXT_503, "more_body": True})
            return "abort"
        return mode

    def _lived(self, opened: Any) -> float:
        """Simulated seconds since this stream opened."""
        backend = self.app.backend
        return (backend.clock.now() - opened).total_seconds() * backend.speed

    def _nap(self, due: Any) -> float:
        """How long a waiting stream sleeps before looking again. On the real clock it sleeps
        until its next event is due (at most RECHECK): a few hundred open streams polling every
        20 ms would cost the emulator a core. A fake clock only moves when a test says so, so
        streams on one look every POLL."""
        clock = self.app.backend.clock
        if due is None or not isinstance(clock, SystemClock):
            return POLL
        return min(RECHECK, max(POLL, (due - clock.now()).total_seconds()))

    async def _hang(self, send: Any, gone: asyncio.Event) -> str:
        """Send nothing but keep-alives until the client gives up (a stalled resume)."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while not gone.is_set() and not self.app.stopping.is_set():
            if loop.time() - quiet_since >= self.keepalive:
                await send(
                    {"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True}
                )
                quiet_since = loop.time()
            await asyncio.sleep(POLL)
        return "done"

    async def _pump(self, send: Any, gone: asyncio.Event) -> str:
        backend, position, sent = self.app.backend, self.start, 0
        loop = asyncio.get_running_loop()
        quiet_since, asked = loop.time(), -math.inf
        due = None  # when the next event is due (by the backend's clock)
        faults, opened = self.faults, backend.clock.now()
        if faults.stall_replay is not None:
            replay_from = max(0, position - faults.stall_replay)
            batch = backend.events(self.interaction_id, replay_from)
            for event in batch.events[: position - replay_from]:
                await send({"type": "http.response.body", "body": _sse(event), "more_body": True})
            return await self._hang(send, gone)
        while not gone.is_set() and not self.app.stopping.is_set():
            if (
                faults.cut_after_seconds is not None
                and self._lived(opened) >= faults.cut_after_seconds
            ):
                return await self._cut(send, faults.cut_mode)
            if loop.time() - asked < RECHECK and (due is None or backend.clock.now() < due):
                await asyncio.sleep(self._nap(due))  # nothing can have happened yet
                continue
            asked = loop.time()
            try:
                batch = backend.events(self.interaction_id, position)
            except EmulatorError as error:
                event = {
                    "event_type": "error",
                    "error": {"code": error.status.lower(), "message": error.message},
                }
                await send(
                    {
                        "type": "http.response.body",
                        "body": _sse({**event, "event_id": f"evt_{position + 1:04d}"})
                        + b"data: [DONE]\n\n",
                        "more_body": True,
                    }
                )
                return "done"
            for event in batch.events:
                if self.cut is not None and sent >= self.cut[0]:
                    return await self._cut(send, self.cut[1])
                if (
                    faults.cut_after_seconds is not None
                    and self._lived(opened) >= faults.cut_after_seconds
                ):
                    return await self._cut(send, faults.cut_mode)
                body = _sse(event)
                if faults.duplicate_at is not None and sent + 1 == faults.duplicate_at:
                    body += body  # the same event delivered twice
                await send({"type": "http.response.body", "body": body, "more_body": True})
                sent += 1
                position += 1
                quiet_since = loop.time()
            if self.cut is not None and sent >= self.cut[0]:
                return await self._cut(send, self.cut[1])
            due = batch.next_at
            if batch.done:
                await send(
                    {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": True}
                )
                return "done"
            if loop.time() - quiet_since >= self.keepalive:
                await send(
                    {"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True}
                )
                quiet_since = loop.time()
            await asyncio.sleep(POLL)
        return "done"


class EmulatorApp:
    """Builds the Starlette app around a backend; `stopping` ends streams and held replies."""

    def __init__(self, backend: EmulatorBackend, keepalive: float = KEEPALIVE) -> None:
        self.backend = backend
        self.keepalive = keepalive
        self.stopping = threading.Event()
        api = [
            Route("/{version}/interactions", self.create, methods=["POST"]),
            Route("/{version}/interactions/{id}", self.get, methods=["GET"]),
            Route("/{version}/interactions/{id}", self.delete, methods=["DELETE"]),
            Route("/{version}/interactions/{id}/cancel", self.cancel, methods=["POST"]),
            Route("/{version}/webhooks", self.webhooks, methods=["GET", "POST"]),
            Route("/{version}/triggers", self.triggers, methods=["GET", "POST"]),
            Route("/{version}/triggers/{id}", self.trigger, methods=["GET", "PATCH", "DELETE"]),
            Route("/{version}/triggers/{id}/executions", self.executions, methods=["GET", "POST"]),
            # {id}, {id}:ping and {id}:rotateSigningSecret: one segment, split on ':' here
            Route(
                "/{version}/webhooks/{name}",
                self.webhook,
                methods=["GET", "PATCH", "DELETE", "POST"],
            ),  # fmt: skip
        ]
        vertex = [  # Vertex AI paths name the project and location first
            Route(
                r.path.replace(
                    "/{version}/", "/{version}/projects/{project}/locations/{location}/"
                ),
                r.endpoint,
                methods=r.methods,
            )
            for r in api
        ]
        control = [
            Route("/_emulator/stats", self.stats, methods=["GET"]),
            Route("/_emulator/reset", self.reset, methods=["POST"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/faults/{rule:int}", self.remove_fault, methods=["DELETE"]),
            Route("/_emulator/config", self.config, methods=["GET", "POST"]),
            Route("/_emulator/interactions", self.interactions, methods=["GET"]),
            Route("/_emulator/clock/advance", self.advance, methods=["POST"]),
            Route(
                "/_emulator/webhooks/faults", self.webhook_faults, methods=["GET", "POST", "DELETE"]
            ),  # fmt: skip
            Route("/_emulator/webhooks/deliveries", self.webhook_deliveries, methods=["GET"]),
            Route("/_emulator/webhooks/dispatch", self.webhook_dispatch, methods=["POST"]),
            Route("/.well-known/jwks.json", self.jwks, methods=["GET"]),
        ]
        # control first: "/_emulator/webhooks/faults" would otherwise match "/{version}/webhooks/{name}"
        handlers = {HTTPException: self._http_error, Exception: self._crash}
        files = FilesHttp(self).routes()  # the Files API (files.py)
        self.asgi = Starlette(routes=control + api + files + vertex, exception_handlers=handlers)  # type: ignore[arg-type]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)

    # --- API operations --------------------------------------------------------------------------

    async def _run(self, request: Request, op: str, **args: Any) -> Reply:
        latency = self.backend.faults.latency
        if latency:
            await self._hold(latency)
        try:
            self.backend.authenticate(_api_key(request))
            self.backend.note_version(request.path_params.get("version", ""))
        except EmulatorError as error:
            error.counted = False  # type: ignore[attr-defined]  # never reached the operation
            raise
        return self.backend.perform(op, **args)

    async def _hold(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while not self.stopping.is_set() and loop.time() < until:
            await asyncio.sleep(min(0.05, until - loop.time()))

    async def _answer(
        self, op: str, reply: Reply, stream: tuple[str, int] | None = None
    ) -> Response | EventStream:
        if reply.delay:
            await self._hold(reply.delay)
        if reply.malformed:
            self.backend.note_response(op, 502 if reply.malformed == "html_502" else 200)
            return self._malformed(reply)
        self.backend.note_response(op, 200)
        if stream is not None:
            faults = self.backend.faults.stream_faults(op, resumed=stream[1] > 0)
            return EventStream(self, stream[0], stream[1], faults)
        return _json(reply.body)

    def _error(self, op: str, error: EmulatorError) -> Response:
        if getattr(error, "counted", True):
            self.backend.note_response(op, error.status_code)
        return _json(error.body(), error.status_code, error.headers())

    @staticmethod
    def _malformed(reply: Reply) -> Response:
        if reply.malformed == "html_502":
            return Response(HTML_502, 502, media_type="text/html; charset=UTF-8")
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.malformed == "invalid_json":
            text = json.dumps(body)
            return Response(
                text[: max(1, len(text) // 2)].encode(), 200, media_type="application/json"
            )
        partial = {k: v for k, v in body.items() if k not in ("id", "status")}
        return _json(partial)

    async def create(self, request: Request) -> Response | EventStream:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None  # answered 400 "Invalid JSON payload received" by the backend
        try:
            reply = await self._run(request, "create", body=body)
        except EmulatorError as error:
            return self._error("create", error)
        stream = (reply.body["id"], 0) if isinstance(body, dict) and body.get("stream") else None
        return await self._answer("create", reply, stream)

    async def get(self, request: Request) -> Response | EventStream:
        interaction_id = request.path_params["id"]
        op = "get"
        try:
            try:
                stream = _flag(request, "stream")
                include = _flag(request, "include_input")
            except EmulatorError as error:
                error.counted = False  # type: ignore[attr-defined]
                raise
            op = "stream" if stream else "get"
            if stream:
                last = request.query_params.get("last_event_id")
                reply = await self._run(
                    request, "stream", interaction_id=interaction_id, last_event_id=last
                )
                return await self._answer(op, reply, (interaction_id, reply.body))
            reply = await self._run(
                request, "get", interaction_id=interaction_id, include_input=include
            )
        except EmulatorError as error:
            return self._error(op, error)
        return await self._answer(op, reply)

    async def cancel(self, request: Request) -> Response | EventStream:
        try:
            reply = await self._run(request, "cancel", interaction_id=request.path_params["id"])
        except EmulatorError as error:
            return self._error("cancel", error)
        return await self._answer("cancel", reply)

    async def delete(self, request: Request) -> Response | EventStream:
        try:
            reply = await self._run(request, "delete", interaction_id=request.path_params["id"])
        except EmulatorError as error:
            return self._error("delete", error)
        return await self._answer("delete", reply)

    # --- webhooks ----------------------------------------------------------------------------------

    async def _webhook_call(self, request: Request, name: str, *args: Any) -> Response:
        try:
            self.backend.authenticate(_api_key(request))
            self.backend.note_version(request.path_params.get("version", ""))
            body = self.backend.webhook_call(name, *args)
        except EmulatorError as error:
            self.backend.note_response("webhooks", error.status_code)
            return _json(error.body(), error.status_code, error.headers())
        self.backend.note_response("webhooks", 200)
        return _json(body)

    async def _body_or_none(self, request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"{}")
        except ValueError:
            return None

    async def webhooks(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._webhook_call(request, "create", await self._body_or_none(request))
        size = request.query_params.get("page_size")
        page_size = int(size) if size and size.isdigit() else None
        return await self._webhook_call(request, "list", page_size, request.query_params.get("page_token"))  # fmt: skip

    async def webhook(self, request: Request) -> Response:
        hook_id, _, verb = request.path_params["name"].partition(":")
        if request.method == "POST" and verb == "ping":
            return await self._webhook_call(request, "ping", hook_id)
        if request.method == "POST" and verb == "rotateSigningSecret":
            return await self._webhook_call(request, "rotate", hook_id, await self._body_or_none(request))  # fmt: skip
        if verb or request.method == "POST":
            return await self._http_error(request, HTTPException(404))
        if request.method == "GET":
            return await self._webhook_call(request, "get", hook_id)
        if request.method == "DELETE":
            return await self._webhook_call(request, "delete", hook_id)
        mask = request.query_params.get("update_mask")
        return await self._webhook_call(request, "update", hook_id, await self._body_or_none(request), mask)  # fmt: skip

    # --- triggers ----------------------------------------------------------------------------------

    async def _trigger_call(self, request: Request, name: str, *args: Any) -> Response:
        try:
            self.backend.authenticate(_api_key(request))
            self.backend.note_version(request.path_params.get("version", ""))
            body = self.backend.trigger_call(name, *args)
        except EmulatorError as error:
            self.backend.note_response("triggers", error.status_code)
            return _json(error.body(), error.status_code, error.headers())
        self.backend.note_response("triggers", 200)
        return _json(body)

    async def triggers(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._trigger_call(request, "create", await self._body_or_none(request))
        q = request.query_params
        return await self._trigger_call(request, "list", q.get("filter"), q.get("page_size"), q.get("page_token"))  # fmt: skip

    async def trigger(self, request: Request) -> Response:
        trigger_id = request.path_params["id"]
        if request.method == "PATCH":
            return await self._trigger_call(request, "update", trigger_id, await self._body_or_none(request))  # fmt: skip
        return await self._trigger_call(request, request.method.lower(), trigger_id)

    async def executions(self, request: Request) -> Response:
        trigger_id, q = request.path_params["id"], request.query_params
        if request.method == "POST":
            return await self._trigger_call(request, "run", trigger_id)
        return await self._trigger_call(request, "executions", trigger_id, q.get("page_size"), q.get("page_token"))  # fmt: skip

    async def jwks(self, request: Request) -> Response:
        return _json(
            self.backend.webhooks.jwks(), headers={"cache-control": "public, max-age=3600"}
        )

    async def webhook_faults(self, request: Request) -> Response:
        hooks = self.backend.webhooks
        if request.method == "DELETE":
            hooks.clear_faults()
        elif request.method == "POST":
            try:
                data = await self._json_body(request)
                for spec in data if isinstance(data, list) else [data]:
                    hooks.add_fault(spec)
            except (ValueError, TypeError) as exc:
                return _json(invalid_argument(str(exc)).body(), 400)
        return _json({"faults": hooks.stats()["faults"]})

    async def webhook_deliveries(self, request: Request) -> Response:
        return _json({"deliveries": self.backend.webhooks.deliveries()})

    async def webhook_dispatch(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        made = await loop.run_in_executor(None, self.backend.dispatch_webhooks)
        return _json({"attempts": made})

    async def _crash(self, request: Request, exc: Exception) -> Response:
        """A bug in the emulator still answers like Google would: 500 INTERNAL, as JSON."""
        return _json(EmulatorError(500, None, f"Emulator error: {exc!r}").body(), 500)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        message = f"The requested URL {request.url.path} was not found on this server."
        if code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}."
        return _json(EmulatorError(code if code in (404, 405) else 404, None, message).body(), code)

    # --- control endpoints -----------------------------------------------------------------------

    async def _json_body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ValueError(f"body is not JSON: {exc}") from exc

    async def stats(self, request: Request) -> Response:
        return _json(self.backend.stats())

    async def interactions(self, request: Request) -> Response:
        return _json({"interactions": self.backend.list_interactions()})

    async def reset(self, request: Request) -> Response:
        self.backend.reset()
        return _json({"ok": True})

    async def faults(self, request: Request) -> Response:
        plan = self.backend.faults
        if request.method == "DELETE":
            plan.clear()
        elif request.method == "POST":
            try:
                data = await self._json_body(request)
                specs = data if isinstance(data, list) else [data]
                added = [plan.add(spec).to_dict() for spec in specs]
            except (ValueError, TypeError) as exc:
                return _json(invalid_argument(str(exc)).body(), 400)
            return _json({"added": added, "faults": plan.rules()})
        return _json({"faults": plan.rules()})

    async def remove_fault(self, request: Request) -> Response:
        rule = request.path_params["rule"]
        if not self.backend.faults.remove(rule):
            return _json(EmulatorError(404, None, f"No fault rule {rule}.").body(), 404)
        return _json({"faults": self.backend.faults.rules()})

    async def config(self, request: Request) -> Response:
        try:
            data = await self._json_body(request) if request.method == "POST" else {}
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            return _json(self.backend.configure(**data))
        except (ValueError, TypeError) as exc:
            return _json(invalid_argument(str(exc)).body(), 400)

    async def advance(self, request: Request) -> Response:
        try:
            data = await self._json_body(request)
            seconds = float(data.get("seconds", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            return _json(invalid_argument(str(exc)).body(), 400)
        advance = getattr(self.backend.clock, "advance", None)
        if advance is None:
            return _json(invalid_argument("The emulator runs on the system clock.").body(), 400)
        return _json({"now": advance(seconds).isoformat()})


def create_app(backend: EmulatorBackend | None = None) -> EmulatorApp:
    """An ASGI app serving `backend` (a new one on the system clock if not given)."""
    return EmulatorApp(backend or EmulatorBackend())
