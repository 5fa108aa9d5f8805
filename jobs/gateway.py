"""The only module that talks to google-genai.

Design choices:
- SDK retries are off for every call (`attempts=1`). google-genai retries POST create by itself on
  408/409/429/5xx without an idempotency key, which can pay twice for a Deep Research run; the
  service owns every retry, in one place, and knows which failures are safe to retry.
- Explicit timeouts: the SDK's default is none at all.
- SDK exceptions are mapped to `jobs.errors` gateway errors and raised `from None`: the SDK's
  exceptions carry the request (and so the `x-goog-api-key` header) and must not reach a traceback.
- The SDK client is built with GOOGLE_GENAI_DEBUG unset: that switch makes google-genai log every
  request's headers, the API key included, past any log filter (see `_sdk_debug_logging_off`).
- google.genai is imported on first use: it costs ~0.5 s, which `jobs list` should not pay.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from jobs.config import Settings
from jobs.errors import (
    AuthFailed,
    ConfigError,
    GatewayError,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    RemoteNotFound,
    Transient,
    Unreachable,
)
from jobs.remote import (  # noqa: F401 - RemoteInteraction, dumps, output_text_of: re-exported
    USAGE_FIELDS,
    RemoteInteraction,
    dumps,
    output_text_of,
    parse_time,
    remote_from_json,
    remote_from_resource,
)
from jobs.sse import sse_data

log = logging.getLogger(__name__)


def _check_base_url(url: str, source: str) -> None:
    """An unusable base URL is a configuration error, found before anything is recorded or sent
    (the SDK would otherwise fail only once the request is on its way: `submit_unknown`)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        where = f" ({source})" if source and source != "default" else ""
        raise ConfigError(
            f"the API base URL {url!r}{where} is not an http(s) URL; "
            "use e.g. http://127.0.0.1:8765, or unset GOOGLE_GEMINI_BASE_URL for Google's"
        )


_SERIALIZERS_PATCHED = False
_TYPE_HINTS_PATCHED = False
_PATCH_LOCK = threading.Lock()


def _cache_sdk_serializer_models() -> None:
    """google-genai 3.4 builds a new pydantic model class on every (un)marshal, three per create:
    about 50 ms of CPU per call, which caps a batch at ~15 creates/s per process. The class depends
    only on the body type, so it is built once per type and reused (unhashable types: as before)."""
    global _SERIALIZERS_PATCHED
    with _PATCH_LOCK:
        if _SERIALIZERS_PATCHED:
            return
        _SERIALIZERS_PATCHED = True
        try:
            from google.genai._gaos.utils import serializers
        except ImportError:  # another SDK layout: nothing to speed up
            return
        original = getattr(serializers, "create_model", None)
        if original is None:
            return
        cache: dict[tuple[str, Any], Any] = {}

        def create_model(name: str, *, body: tuple, __config__: Any = None, **rest: Any) -> Any:
            if rest or len(body) != 2:
                return original(name, body=body, __config__=__config__, **rest)
            try:
                key = (name, body[0])
                hash(key)
            except TypeError:
                return original(name, body=body, __config__=__config__)
            model = cache.get(key)
            if model is None:
                model = cache[key] = original(name, body=body, __config__=__config__)
            return model

        serializers.create_model = create_model
        _render_bodies_only_for_debug_logs()


def _render_bodies_only_for_debug_logs() -> None:
    """google-genai 3.4 renders every request body for its debug log (`str(request.content)`)
    before it knows whether anything logs it: a copy of a 50 MB prompt on each create. Rendered
    now only when the SDK's debug logging (GOOGLE_GENAI_DEBUG, the SDK's own switch) is on."""
    try:
        from google.genai._gaos import basesdk
    except ImportError:  # another SDK layout: nothing to spare
        return
    original = getattr(basesdk, "get_body_content", None)
    if original is None:
        return

    def get_body_content(request: Any) -> str:
        if os.getenv("GOOGLE_GENAI_DEBUG"):
            return original(request)
        return "<not rendered: debug logging is off>"

    basesdk.get_body_content = get_body_content


def _cache_sdk_type_hints() -> None:
    """google-genai's request builder reads `typing.get_type_hints` of its parameter classes on
    every call (path, query and form parameters): evaluating their annotations is about a quarter
    of a `get`'s CPU. A class's hints do not change once it is defined: read them once per class."""
    import typing

    global _TYPE_HINTS_PATCHED
    with _PATCH_LOCK:
        if _TYPE_HINTS_PATCHED:
            return
        _TYPE_HINTS_PATCHED = True
    try:
        from google.genai._gaos.utils import forms, queryparams, url
    except ImportError:  # another SDK layout: nothing to speed up
        return
    cache: dict[Any, dict[str, Any]] = {}

    def get_type_hints(obj: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs or not isinstance(obj, type):
            return typing.get_type_hints(obj, *args, **kwargs)
        hints = cache.get(obj)
        if hints is None:
            hints = cache[obj] = typing.get_type_hints(obj)
        return dict(hints)  # a copy: a caller may change what it gets

    for module in (forms, queryparams, url):
        if getattr(module, "get_type_hints", None) is typing.get_type_hints:
            module.get_type_hints = get_type_hints


class Gateway:
    """create / get / cancel / delete / stream of background interactions."""

    def __init__(self, settings: Settings) -> None:
        self._api_key = settings.api_key
        self._base_url = settings.base_url or None
        self._base_url_source = settings.sources.get("api.base_url", "")
        self._api_version = settings["api.api_version"] or None
        self._timeout = float(settings["api.timeout"])
        self._create_timeout = float(settings["api.create_timeout"])
        # Every open stream holds a connection of the SDK's pool (100 by default): sized so that
        # the stream cap never starves the other calls, which would then wait for a connection.
        self._connections = (
            int(settings["worker.max_streams"]) + int(settings["worker.concurrency"]) + 16
        )
        self._client: Any = None

    def __repr__(self) -> str:
        return (
            f"Gateway(base_url={self._base_url or 'https://generativelanguage.googleapis.com'!r})"
        )

    @property
    def target(self) -> str:
        """Where calls go, for messages."""
        return self._base_url or "the Gemini API"

    def _interactions(self) -> Any:
        if self._client is None:
            if not self._api_key:
                raise ConfigError(
                    "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY); "
                    "to try jobs without one, run `gjobs demo`"
                )
            if self._base_url:
                _check_base_url(self._base_url, self._base_url_source)
            import httpx2
            from google import genai
            from google.genai import types

            # Idle connections are dropped before a server's usual 5 s keep-alive would close
            # them: reusing one the server is closing breaks a create after it may have been
            # received, which makes a job submit_unknown for nothing.
            limits = httpx2.Limits(
                max_connections=self._connections,
                max_keepalive_connections=self._connections,
                keepalive_expiry=2.0,
            )
            options = types.HttpOptions(
                base_url=self._base_url,
                api_version=self._api_version,
                timeout=int(self._timeout * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
                client_args={"limits": limits},
            )
            _cache_sdk_serializer_models()
            _cache_sdk_type_hints()
            with _sdk_debug_logging_off():
                client = genai.Client(api_key=self._api_key, http_options=options)
                client.interactions  # noqa: B018 - builds the SDK (and picks its logger) now
            self._client = client
        return self._client.interactions

    # -- operations ------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> RemoteInteraction:
        """Start a background interaction. Raises NotSent only when it certainly did not happen:
        429 (RESOURCE_EXHAUSTED: by AIP-194 not processed) or a connection never made."""
        interactions = self._interactions()
        try:
            # The reply's JSON, not SDK models (as `get`): most of a create's CPU otherwise.
            text = interactions.with_raw_response.create(
                **body, background=True, timeout=self._create_timeout
            ).text()
        except Exception as exc:
            raise _map_error(exc, "create", self.target) from None
        try:
            reply = json.loads(text)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise OutcomeUnknown(
                "create got a malformed reply; it may have been created: "
                f"malformed reply from the API (HTTP 200): {_short(text)!r}"
            )
        remote = remote_from_json(reply)
        if not remote.id:
            # A 2xx without an id (the SDK parses leniently): the interaction may well exist, but it
            # cannot be named. Never store an empty id, never retry.
            raise OutcomeUnknown(
                f"create got a reply without an interaction id (status {remote.status!r}); "
                "it may have been created"
            )
        return remote

    def cancel(self, interaction_id: str) -> RemoteInteraction:
        interactions = self._interactions()
        try:
            result = interactions.cancel(interaction_id)
        except Exception as exc:
            raise _map_error(exc, "cancel", self.target) from None
        return _to_remote(result)

    def delete(self, interaction_id: str) -> None:
        interactions = self._interactions()
        try:
            interactions.delete(interaction_id)
        except Exception as exc:
            raise _map_error(exc, "delete", self.target) from None

    # -- webhooks --------------------------------------------------------------------------------

    @staticmethod
    def webhook_fields(uri: str, user_metadata: dict[str, str]) -> dict[str, Any]:
        """The create fields that ask the API to announce the interaction's end at `uri`
        (a per-request webhook: its deliveries are signed with the API's published keys)."""
        return {"webhook_config": {"uris": [uri], "user_metadata": dict(user_metadata)}}

    def signing_keys(self) -> dict[str, Any]:
        """The API's published webhook signing keys (a JWKS), from {base_url}/.well-known/jwks.json.
        Not an SDK call (google-genai has no verifier): a plain GET of a public document."""
        import urllib.request

        base = (self._base_url or "https://generativelanguage.googleapis.com").rstrip("/")
        request = urllib.request.Request(f"{base}/.well-known/jwks.json", headers={"accept": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=self._timeout) as reply:  # noqa: S310 - our API's URL
            keys = json.loads(reply.read())
        if not isinstance(keys, dict):
            raise Transient("the API's signing keys are not a JSON object")
        return keys

    def stream(
        self, interaction_id: str, last_event_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The interaction's events as plain dicts (unknown event types included, as data)."""
        with self.open_stream(interaction_id, last_event_id) as events:
            yield from events

    def open_stream(
        self,
        interaction_id: str,
        last_event_id: str | None = None,
        *,
        read_timeout: float | None = None,
    ) -> EventStream:
        """Open `get(id, stream=True[, last_event_id])`; iterate the handle for the events.

        Each event is a `ReceivedEvent`: the SSE `data` JSON as a dict, in the key order received,
        with its JSON text; unknown event types and fields are kept as they came. The handle's
        `close()` may be called from another thread (a watchdog) to end a silent stream. Opening
        errors and mid-stream breaks raise gateway errors (`Transient` for a cut stream).
        """
        interactions = self._interactions()
        kwargs: dict[str, Any] = {"stream": True, "timeout": read_timeout}
        if last_event_id:
            kwargs["last_event_id"] = last_event_id
        try:
            sdk_stream = interactions.get(interaction_id, **kwargs)
        except Exception as exc:
            raise _map_error(exc, "stream", self.target) from None
        return EventStream(sdk_stream, self.target)

    def get(self, interaction_id: str) -> RemoteInteraction:
        """The interaction now, from the reply's JSON as received (no SDK models are built).

        Building the SDK's pydantic models is most of a poll's CPU (about 11 ms against 2 ms here,
        measured on the emulator); a worker watching thousands of jobs needs the JSON only. Same
        call, auth, transport and error mapping as `get`; `output_text` is computed by the SDK's
        own rule (`output_text_of`).
        """
        interactions = self._interactions()
        try:
            text = interactions.with_raw_response.get(interaction_id).text()
        except Exception as exc:
            raise _map_error(exc, "get", self.target) from None
        try:
            body = json.loads(text)
        except ValueError:
            raise Transient(
                f"malformed reply from the API (HTTP 200): {_short(text)!r}", status_code=200
            ) from None
        if not isinstance(body, dict):
            raise Transient(
                f"malformed reply from the API (HTTP 200): {_short(text)!r}", status_code=200
            )
        return remote_from_json(body)


class EventStream:
    """An open SSE stream of one interaction: iterate for `ReceivedEvent`s; `close()` ends it.

    The SDK opens the stream (its transport, auth, headers and errors); the body is read with
    `sse_data`, which splits events exactly as the SDK's `stream_events` does but hands on each
    event's `data` text as received instead of turning it into (and back out of) dataclasses,
    JSON and SDK models, at Python speed a byte (most of a stream's CPU). The data JSON is what
    the journal stores, byte for byte for compact JSON, and unknown event types are data.
    """

    def __init__(self, sdk_stream: Any, target: str) -> None:
        self._target = target
        self._closed = False
        self.done = False  # the server said `[DONE]`: the stream ended, not cut
        self._stream = sdk_stream
        response = getattr(sdk_stream, "response", None)
        if response is not None and hasattr(sdk_stream, "generator"):
            # `[DONE]` comes through as data, so a clean end is told from a cut.
            sdk_stream.generator = sse_data(response)
            self._raw = True
        else:  # pragma: no cover - another SDK shape: fall back to its parsed events
            self._raw = False

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from jobs.store.events import ReceivedEvent

        try:
            for item in self._stream:
                if self._raw:
                    if item == "[DONE]":
                        self.done = True
                        return
                    try:
                        data = json.loads(item)
                    except ValueError:
                        data = item
                    if isinstance(data, dict):
                        yield ReceivedEvent(data, dumps(data))
                    elif data is not None:  # non-JSON data: kept as text
                        yield ReceivedEvent(
                            {"event_type": "(non-json)", "data": data}, dumps({"data": data})
                        )
                else:
                    yield _event_to_dict(item)
        except GeneratorExit:
            raise
        except Exception as exc:
            if self._closed:
                return  # closed by us (a watchdog): not an error
            raise _map_error(exc, "stream", self._target) from None

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._stream.close()


_ENVIRON_LOCK = threading.Lock()
SDK_DEBUG_VARIABLE = "GOOGLE_GENAI_DEBUG"


@contextlib.contextmanager
def _sdk_debug_logging_off() -> Iterator[None]:
    """Build the SDK client with GOOGLE_GENAI_DEBUG unset.

    With it set, google-genai calls `logging.basicConfig(level=DEBUG)` and logs every request with
    its headers, so the API key in clear, to stderr, past any filter of ours. It reads the variable
    only when a client is built, so the client is built without it and a warning says so; `jobs -v`
    is the way to see what the runner does.
    """
    with _ENVIRON_LOCK:
        saved = os.environ.pop(SDK_DEBUG_VARIABLE, None)
        try:
            yield
        finally:
            if saved is not None:
                os.environ[SDK_DEBUG_VARIABLE] = saved
    if saved:
        log.warning(
            "%s is ignored: google-genai would log the API key in clear; use `gjobs -v` instead",
            SDK_DEBUG_VARIABLE,
        )


# -- parsing ---------------------------------------------------------------------------------------


def _to_remote(result: Any) -> RemoteInteraction:
    if not hasattr(result, "model_dump"):
        raise Transient(f"malformed reply from the API: {str(result)[:200]!r}")
    with warnings.catch_warnings():
        # A lenient (unvalidated) model warns on dump when a field has the wrong type.
        warnings.simplefilter("ignore")
        # `input` echoes the request (which we store already): a 50 MB prompt is not copied again.
        raw = result.model_dump(mode="json", exclude_none=True, exclude={"input"})
    raw.pop("output_text", None)  # computed by the SDK, not part of the resource
    return remote_from_resource(raw, getattr(result, "output_text", None) or "")


def _event_to_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, str):
        return {"event_type": "raw", "data": event}
    raw = getattr(event, "raw", None)
    if isinstance(raw, dict):  # Unknown* variants keep the original payload here
        return raw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return event.model_dump(mode="json", exclude_none=True)


# -- error mapping ---------------------------------------------------------------------------------


def _map_error(exc: Exception, op: str, target: str = "the API") -> Exception:
    """Translate an SDK exception into a gateway error the service can decide on."""
    from google.genai import _interactions as sdk

    if isinstance(exc, GatewayError | ConfigError):
        return exc
    if isinstance(exc, sdk.APIStatusError):
        return _map_status(exc.status_code, exc.body, exc.response, op)
    if isinstance(exc, sdk.APIConnectionError):  # includes APITimeoutError
        causes = _cause_names(exc)
        if "PoolTimeout" in causes:
            # No connection of the pool came free in time: the request never left.
            return Unreachable(
                f"{op}: no free connection to {target} in time"
                + ("; nothing was sent" if op == "create" else "")
            )
        if "ConnectError" in causes or "ConnectTimeout" in causes:
            # The connection was never made, so nothing was sent: safe to retry even for create.
            reason = _short(str(exc)).replace("[Errno 111] ", "").lower() or "connection failed"
            return Unreachable(
                f"{op}: cannot reach {target}: {reason}"
                + ("; nothing was sent" if op == "create" else "")
            )
        kind = "timed out" if isinstance(exc, sdk.APITimeoutError) else "connection broke"
        if op == "create":
            return OutcomeUnknown(
                f"create {kind} after the request was sent; it may have been created"
            )
        return Transient(f"{op} {kind}")
    if isinstance(exc, sdk.APIError):  # a 200 whose body is not JSON, or fails validation
        status = getattr(exc, "status_code", None)
        detail = _short(str(getattr(exc, "body", "") or exc))
        if op == "create":
            return OutcomeUnknown(
                f"create got a malformed reply (HTTP {status}): {detail}", status_code=status
            )
        return Transient(
            f"malformed reply from the API (HTTP {status}): {detail}", status_code=status
        )
    return GatewayError(f"{op} failed: {type(exc).__name__}: {_short(str(exc))}")


def _map_status(status: int, body: Any, response: Any, op: str) -> Exception:
    text = f"{op}: HTTP {status}{_error_text(body)}"
    if status == 429:
        return RateLimited(text, status_code=status, retry_after=_retry_after(response, body))
    if status == 404:
        return RemoteNotFound(text, status_code=status)
    if status in (401, 403) or (status == 400 and _is_bad_key(body)):
        return AuthFailed(
            f"{op}: the API rejected the key (HTTP {status}){_error_text(body)}", status_code=status
        )
    if status == 503:
        # AIP-194: UNAVAILABLE is retryable but "not always safe to retry non-idempotent
        # operations": the server may have run it (the emulator's accept_then_fail does). A create
        # has no idempotency key, so a 503 on create is an unknown outcome; anything else retries.
        if op == "create":
            return OutcomeUnknown(
                text + "; the API may have run it (503 does not say it did not)", status_code=status
            )
        return NotSent(text, status_code=status, retry_after=_retry_after(response, body))
    if status in (408, 409) or status >= 500:
        if op == "create":
            return OutcomeUnknown(text + "; it may have been created", status_code=status)
        return Transient(text, status_code=status)
    return Rejected(text, status_code=status)


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        parts = [str(err[k]) for k in ("status", "message") if err.get(k)]
        return (": " + " ".join(parts)) if parts else ""
    if isinstance(body, str) and body.strip():
        return ": " + _short(re.sub(r"<[^>]+>", " ", body))
    return ""


def _is_bad_key(body: Any) -> bool:
    details = body.get("error", {}).get("details", []) if isinstance(body, dict) else []
    return any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details or [])


def _retry_after(response: Any, body: Any) -> float | None:
    """Seconds to wait, from `retry-after-ms`, `Retry-After` or a google.rpc.RetryInfo detail."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                when = parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        pass
    details = body.get("error", {}).get("details", []) if isinstance(body, dict) else []
    for detail in details or []:
        if isinstance(detail, dict) and "retryDelay" in detail:
            match = re.fullmatch(r"\s*([0-9.]+)s\s*", str(detail["retryDelay"]))
            if match:
                return float(match.group(1))
    return None


def _cause_names(exc: BaseException) -> set[str]:
    names, seen = set(), set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.add(type(current).__name__)
        current = current.__cause__ or current.__context__
    return names


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
