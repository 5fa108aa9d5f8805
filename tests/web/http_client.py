"""A few lines of stdlib HTTP for the server tests (the package has no HTTP client of its own)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlencode, urlsplit


@dataclass
class Reply:
    status_code: int
    headers: Message
    text: str

    def json(self):
        return json.loads(self.text)


class Client:
    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.host, self.port = parts.hostname, parts.port
        self.headers = headers or {}

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=10)

    def request(self, method, path, *, params=None, json_body=None, headers=None) -> Reply:
        if params:
            path += "?" + urlencode(params)
        body = None
        all_headers = {**self.headers, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers["content-type"] = "application/json"
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read().decode())
        finally:
            connection.close()

    def get(self, path, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs) -> Reply:
        return self.request("POST", path, **kwargs)

    def stream(self, path, *, params=None, headers=None) -> Iterator[str]:
        """The body of a streaming GET, as text chunks (the caller stops when it has enough)."""
        if params:
            path += "?" + urlencode(params)
        connection = self._connection()
        try:
            connection.request("GET", path, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            assert response.status == 200, response.status
            assert response.headers["content-type"].startswith("text/event-stream")
            while chunk := response.read1(65536):
                yield chunk.decode()
        finally:
            connection.close()
