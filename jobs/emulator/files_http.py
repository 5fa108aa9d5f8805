"""The HTTP face of the Files API (files.py holds the state): routes only, no rules.

`POST /upload/{v}/files` starts an upload (API key needed) or, with `?upload_id=`, takes its
bytes (the URL is the credential: no key); `GET /{v}/files` lists, `GET /{v}/files/{id}` gets and
`DELETE /{v}/files/{id}` deletes (API key needed). The SDK (google-genai 3.4.0) sends the version
it is configured with, `v1beta` by default for these calls; any version is routed.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jobs.emulator.errors import EmulatorError, invalid_argument


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, headers, media_type="application/json")


class FilesHttp:
    """Routes of the Files API over an EmulatorApp (its backend, key check and latency)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def store(self) -> Any:
        return self.app.backend.files

    def routes(self) -> list[Route]:
        return [
            Route("/_emulator/files", self.stored, methods=["GET"]),  # before /{version}/files
            Route("/upload/{version}/files", self.upload, methods=["POST"]),
            Route("/{version}/files", self.list, methods=["GET"]),
            Route("/{version}/files/{name}", self.file, methods=["GET", "DELETE"]),
        ]

    async def _enter(self, request: Request) -> None:
        """Latency, then the API key, as for the interactions calls."""
        latency = self.app.backend.faults.latency
        if latency:
            await self.app._hold(latency)
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        self.app.backend.authenticate(key)

    def _error(self, error: EmulatorError) -> Response:
        self.store.note_response(error.status_code)
        return _json(error.body(), error.status_code, error.headers())

    def _ok(self, body: Any, headers: dict[str, str] | None = None) -> Response:
        self.store.note_response(200)
        return _json(body, 200, headers)

    async def stored(self, request: Request) -> Response:
        """Every live file (a debugging aid; control endpoints need no key)."""
        return _json({"files": self.store.list_all()})

    async def upload(self, request: Request) -> Response:
        upload_id = request.query_params.get("upload_id")
        if upload_id is not None:  # the bytes: the session URL is the credential
            reply = self.store.chunk(
                upload_id,
                request.headers.get("x-goog-upload-command", ""),
                request.headers.get("x-goog-upload-offset"),
                await request.body(),
            )
            if reply.body is None:
                return Response(b"", reply.status_code, reply.headers)
            return _json(reply.body, reply.status_code, reply.headers)
        try:
            await self._enter(request)
            try:
                metadata = json.loads(await request.body() or b"{}")
            except ValueError:
                raise invalid_argument("Invalid JSON payload received.") from None
            url = str(request.url.replace(query="")).removesuffix("/")
            reply = self.store.start(metadata, request.headers, url)
        except EmulatorError as error:
            return self._error(error)
        self.store.note_response(reply.status_code)
        return Response(b"", reply.status_code, reply.headers)

    async def list(self, request: Request) -> Response:
        try:
            await self._enter(request)
            size = request.query_params.get("pageSize") or request.query_params.get("page_size")
            if size is not None and not size.lstrip("-").isdigit():
                raise invalid_argument(f"Invalid value for pageSize: {size!r}.", field="page_size")
            token = request.query_params.get("pageToken") or request.query_params.get("page_token")
            return self._ok(self.store.list(int(size) if size else None, token))
        except EmulatorError as error:
            return self._error(error)

    async def file(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            await self._enter(request)
            if ":" in name:  # files/{id}:download is for generated files only
                raise invalid_argument("Only generated files can be downloaded.")
            if request.method == "DELETE":
                return self._ok(self.store.delete(name))
            return self._ok(self.store.get(name))
        except EmulatorError as error:
            return self._error(error)
