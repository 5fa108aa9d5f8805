"""Who may use the page, as one ASGI middleware in front of every route.

- Loopback (the default): only requests whose `Host` names this machine (127.0.0.1, localhost,
  [::1]) are answered, so a web site cannot reach the page through DNS rebinding.
- Another address needs an explicit flag and the access token the server prints: it is taken once
  from `?token=` (then kept in an HttpOnly, SameSite=Strict cookie and removed from the address bar),
  or sent as `Authorization: Bearer`. No token, no access: not even the page or its scripts.
- Every state-changing request (POST and the like) must carry the page's CSRF token (header
  `X-Jobs-Token`, given to the page in a <meta> tag that another site cannot read) and an `Origin`
  that is this server's own. A form or fetch from another site fails both.
- Every answer carries a strict Content-Security-Policy (scripts and styles from this server only,
  no inline script): a second wall behind the page's escaping of model text.

`/webhooks/` (issue 13's receiver, called by Google, not a browser) is left to its own signature
check.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
ACCESS_COOKIE = "jobs_access"
CSRF_HEADER = "x-jobs-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNGUARDED_PREFIXES = ("/webhooks/",)

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


@dataclass
class Guard:
    """The secrets of one server run."""

    loopback_only: bool = True
    access_token: str | None = None  # required for every request when set (non-loopback binds)
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def for_bind(cls, host: str, *, allow_remote: bool) -> Guard:
        """Loopback needs nothing more; any other address needs `allow_remote` (checked by the
        caller) and gets a fresh access token."""
        if is_loopback(host):
            return cls(loopback_only=True)
        if not allow_remote:
            raise ValueError(f"refusing to bind {host}: not a loopback address")
        return cls(loopback_only=False, access_token=secrets.token_urlsafe(24))


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


class GuardMiddleware:
    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(UNGUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        if self.guard.loopback_only and not is_loopback(_host_name(host)):
            await _deny(send, 403, f"this server answers only on loopback, not for Host {host!r}")
            return
        if self.guard.access_token is not None:
            token_in_query = dict(parse_qsl(scope.get("query_string", b"").decode())).get("token")
            if scope["method"] == "GET" and _same(token_in_query, self.guard.access_token):
                await _redirect_with_cookie(send, scope, self.guard.access_token)
                return
            if not self._has_access(headers):
                await _deny(
                    send, 401, "an access token is needed: open the address `gjobs serve` printed"
                )
                return
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            scheme = scope.get("scheme", "http")
            if origin != f"{scheme}://{host}":
                await _deny(send, 403, f"cross-site request refused (Origin {origin!r})")
                return
            if not _same(headers.get(CSRF_HEADER), self.guard.csrf_token):
                await _deny(send, 403, "missing or wrong page token (reload the page)")
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _has_access(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and _same(auth[7:].strip(), self.guard.access_token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no access, not an error
            return False
        morsel = cookie.get(ACCESS_COOKIE)
        return morsel is not None and _same(morsel.value, self.guard.access_token)


async def _deny(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Send, scope: Scope, token: str) -> None:
    """Keep the token in a cookie and take it out of the address bar (and the history)."""
    query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode()) if k != "token"]
    location = scope.get("path", "/") + (f"?{urlencode(query)}" if query else "")
    cookie = f"{ACCESS_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode()),
                (b"set-cookie", cookie.encode()),
                (b"content-length", b"0"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
