"""Webhooks: the `webhooks` resource as google-genai 3.4 exposes it, and signed deliveries.

Registered ("static") webhooks are created with `client.webhooks.create(uri=..., subscribed_events=
[...])`; their deliveries are signed the Standard Webhooks way: headers `webhook-id`,
`webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key,
"{id}.{timestamp}.{body}")>`, one entry per live secret (`whsec_` + base64 of the key). A create
with `webhook_config: {uris, user_metadata}` ("dynamic") sends that interaction's events to those
URIs instead, with the same headers but `webhook-signature` an RS256 JWT (header `kid`) whose claims
bind it to the delivery: `aud` (the URI), `webhook_id`, `webhook_timestamp`, `body_sha256`
(base64url SHA-256 of the body), `iat`/`exp`, `sub` (the interaction). Its public keys are at
`GET /.well-known/jwks.json`. (The real service's scheme is documented only by third parties; this
is the emulator's reading of it, see docs/emulator.md.)

The body is thin: `{"type": "interaction.completed", "version": "v1", "timestamp": ..., "data":
{"id": ..., "status": ...}}` plus `user_metadata` for dynamic webhooks; a receiver GETs the
interaction for its output. Events: interaction.completed (also incomplete and budget_exceeded:
`data.status` tells), interaction.failed, interaction.cancelled, interaction.requires_action.

Delivery is at least once: an attempt that does not get a 2xx is retried with exponential backoff
(1 s, 2 s, 4 s ... capped at 60 s, by the emulator's clock) up to `MAX_ATTEMPTS`; a registered
webhook whose delivery exhausts them becomes `disabled_due_to_failed_deliveries`. POSTs go only to
loopback hosts; any other URI is recorded as refused. Faults (`faults`, a list of rules like the
API's): `duplicate` (sent twice, same webhook-id), `reorder` (held until the next delivery to the
same URI went out), `delay` (`seconds` later), `down` (the receiver is treated as refusing
connections: the attempt fails and is retried), `lose` (never sent at all).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from jobs.emulator.errors import invalid_argument, not_found

EVENTS = ("batch.succeeded", "batch.expired", "batch.failed", "interaction.requires_action", "interaction.completed", "interaction.failed", "interaction.cancelled", "video.generated")  # fmt: skip
STATES = ("enabled", "disabled", "disabled_due_to_failed_deliveries")
FAULT_KINDS = ("duplicate", "reorder", "delay", "down", "lose")
MAX_ATTEMPTS = 8
BACKOFF_CAP = 60.0
TOKEN_LIFETIME = 300  # seconds a delivery's JWT is valid
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_EVENT_FOR = {
    "completed": "interaction.completed",
    "incomplete": "interaction.completed",
    "budget_exceeded": "interaction.completed",
    "failed": "interaction.failed",
    "cancelled": "interaction.cancelled",
    "requires_action": "interaction.requires_action",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Delivery:
    """One message to one URI, with its attempts."""

    id: str  # webhook-id: the same on every attempt and duplicate
    uri: str
    event: str
    body: bytes
    interaction_id: str | None
    webhook_id: str | None  # None: a dynamic (webhook_config) delivery
    due: datetime
    attempts: int = 0
    status: str = "pending"  # pending | delivered | failed | lost | refused
    last_error: str | None = None
    held: bool = False  # reorder fault: waits for the next delivery to the same URI
    log: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("body", "log", "due", "held")}
        return out | {"due": _stamp(self.due), "attempt_log": list(self.log)}


@dataclass
class WebhookFault:
    id: int
    kind: str
    times: int | None = 1
    seconds: float | None = None
    uri: str | None = None  # only deliveries to this URI
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class WebhookService:
    """Registered webhooks, dynamic configs, the delivery queue and its faults (thread-safe)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self.reset()

    @property
    def _key(self) -> Any:
        return _signing_key()[0]

    @property
    def _kid(self) -> str:
        return _signing_key()[1]

    def reset(self, clock: Any | None = None) -> None:
        with self._lock:
            if clock is not None:
                self.clock = clock
            self._hooks: dict[str, dict[str, Any]] = {}
            self._secrets: dict[str, list[tuple[str, datetime | None]]] = {}  # (secret, expires)
            self._watch: list[tuple[datetime, int, str]] = []  # (ends at, tiebreak, interaction)
            self._configs: dict[str, dict[str, Any] | None] = {}  # interaction -> webhook_config
            self._queue: list[Delivery] = []
            self._done: list[Delivery] = []
            self._faults: list[WebhookFault] = []
            self._next_fault = 1
            self._counter = 0
            self.counts = {k: 0 for k in ("events", "attempts", "delivered", "failed_attempts", "duplicates", "lost", "refused", "gave_up")}  # fmt: skip

    # --- the resource ------------------------------------------------------------------------------

    def create(self, body: Any) -> dict[str, Any]:
        body = _check_body(body, creating=True)
        now = self.clock.now()
        with self._lock:
            hook_id = f"wh_{uuid.uuid4().hex[:16]}"
            secret = _new_secret()
            hook = {
                "id": hook_id,
                "uri": body["uri"],
                "subscribed_events": list(body["subscribed_events"]),
                "state": "enabled",
                "create_time": _stamp(now),
                "update_time": _stamp(now),
            }
            if body.get("name"):
                hook["name"] = body["name"]
            self._hooks[hook_id] = hook
            self._secrets[hook_id] = [(secret, None)]
            return self._view(hook_id) | {"new_signing_secret": secret}

    def list(self, page_size: int | None = None, page_token: str | None = None) -> dict[str, Any]:
        with self._lock:
            ids = sorted(self._hooks, key=lambda h: (self._hooks[h]["create_time"], h))
            start = int(page_token) if page_token and page_token.isdigit() else 0
            size = min(max(page_size or 50, 1), 1000)
            out: dict[str, Any] = {"webhooks": [self._view(h) for h in ids[start : start + size]]}
            if start + size < len(ids):
                out["next_page_token"] = str(start + size)
            return out

    def get(self, hook_id: str) -> dict[str, Any]:
        with self._lock:
            self._hook(hook_id)
            return self._view(hook_id)

    def update(self, hook_id: str, body: Any, update_mask: str | None = None) -> dict[str, Any]:
        body = _check_body(body, creating=False)
        with self._lock:
            hook = self._hook(hook_id)
            fields = [f.strip() for f in update_mask.split(",")] if update_mask else list(body)
            for name in fields:
                if name not in ("name", "uri", "subscribed_events", "state"):
                    raise invalid_argument(f"update_mask names an unknown field {name!r}.")
                if name in body:
                    hook[name] = body[name]
            hook["update_time"] = _stamp(self.clock.now())
            return self._view(hook_id)

    def delete(self, hook_id: str) -> dict[str, Any]:
        with self._lock:
            self._hook(hook_id)
            del self._hooks[hook_id]
            self._secrets.pop(hook_id, None)
            return {}

    def ping(self, hook_id: str) -> dict[str, Any]:
        with self._lock:
            hook = self._hook(hook_id)
            self._enqueue(hook["uri"], "webhook.ping", {"webhook_id": hook_id}, None, hook_id, None)
            return {}

    def rotate(self, hook_id: str, body: Any) -> dict[str, Any]:
        behaviour = (body or {}).get("revocation_behavior") if isinstance(body, dict) else None
        if behaviour not in (None, "revoke_previous_secrets_after_h24", "revoke_previous_secrets_immediately"):  # fmt: skip
            raise invalid_argument(f"Invalid revocation_behavior {behaviour!r}.")
        with self._lock:
            self._hook(hook_id)
            now = self.clock.now()
            secret = _new_secret()
            if behaviour == "revoke_previous_secrets_immediately":
                kept: list[tuple[str, datetime | None]] = []
            else:
                until = now + timedelta(hours=24)
                kept = [(s, until if exp is None else min(exp, until)) for s, exp in self._secrets[hook_id]]  # fmt: skip
            self._secrets[hook_id] = [(secret, None), *kept]
            return {"secret": secret}

    def _hook(self, hook_id: str) -> dict[str, Any]:
        hook = self._hooks.get(hook_id)
        if hook is None:
            error = not_found(hook_id)
            error.message = f"Webhook '{hook_id}' was not found."
            raise error
        return hook

    def _live_secrets(self, hook_id: str) -> list[str]:
        now = self.clock.now()
        return [s for s, exp in self._secrets.get(hook_id, []) if exp is None or exp > now]

    def _view(self, hook_id: str) -> dict[str, Any]:
        secrets_view = [
            {"truncated_secret": s[:10] + "…", **({"expire_time": _stamp(exp)} if exp else {})}
            for s, exp in self._secrets.get(hook_id, [])
        ]
        return dict(self._hooks[hook_id]) | {"signing_secrets": secrets_view}

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()

        def as_b64(n: int) -> str:
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self._kid, "n": as_b64(numbers.n), "e": as_b64(numbers.e)}  # fmt: skip
        return {"keys": [jwk]}

    # --- interactions --------------------------------------------------------------------------------

    def watch(self, interaction_id: str, ends_at: datetime | None, config: Any) -> None:
        """Note an interaction whose end will be announced (`ends_at` None: it never ends)."""
        with self._lock:
            if config is None and not self._hooks:
                return
            self._configs[interaction_id] = config if isinstance(config, dict) else None
            if ends_at is not None:
                self._counter += 1
                heapq.heappush(self._watch, (ends_at, self._counter, interaction_id))

    def ended(self, interaction_id: str, status: str) -> None:
        """The interaction reached `status`: enqueue its deliveries (once)."""
        with self._lock:
            if interaction_id not in self._configs:
                return
            config = self._configs.pop(interaction_id)
            event = _EVENT_FOR.get(status)
            if event is None:
                return
            data = {"id": interaction_id, "status": status}
            self.counts["events"] += 1
            if config is not None:
                for uri in config.get("uris") or []:
                    self._enqueue(uri, event, data, config.get("user_metadata"), None, interaction_id)  # fmt: skip
                return
            for hook_id, hook in self._hooks.items():
                if hook["state"] == "enabled" and event in hook["subscribed_events"]:
                    self._enqueue(hook["uri"], event, data, None, hook_id, interaction_id)

    def due_interactions(self, now: datetime) -> list[str]:
        """Watched interactions whose end time has passed (the backend confirms each)."""
        with self._lock:
            out = []
            while self._watch and self._watch[0][0] <= now:
                out.append(heapq.heappop(self._watch)[2])
            return out

    def recheck(self, interaction_id: str, ends_at: datetime) -> None:
        with self._lock:
            if interaction_id in self._configs:
                self._counter += 1
                heapq.heappush(self._watch, (ends_at, self._counter, interaction_id))

    def forget(self, interaction_id: str) -> None:
        with self._lock:
            self._configs.pop(interaction_id, None)

    # --- deliveries ----------------------------------------------------------------------------------

    def _enqueue(self, uri: str, event: str, data: dict[str, Any], metadata: Any, hook_id: str | None, interaction_id: str | None) -> None:  # fmt: skip
        now = self.clock.now()
        payload: dict[str, Any] = {"type": event, "version": "v1", "timestamp": _stamp(now), "data": data}  # fmt: skip
        if metadata is not None:
            payload["user_metadata"] = metadata
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = Delivery(f"msg_{uuid.uuid4().hex[:20]}", uri, event, body, interaction_id, hook_id, now)  # fmt: skip
        if self._fault("lose", uri):
            delivery.status = "lost"
            self.counts["lost"] += 1
            self._done.append(delivery)
            return
        seconds = self._fault("delay", uri)
        if seconds:
            delivery.due = now + timedelta(seconds=float(seconds))
        delivery.held = bool(self._fault("reorder", uri))
        self._queue.append(delivery)
        if self._fault("duplicate", uri):
            twin = Delivery(delivery.id, uri, event, body, interaction_id, hook_id, delivery.due)
            self.counts["duplicates"] += 1
            self._queue.append(twin)

    def headers(self, delivery: Delivery, sent_at: float) -> dict[str, str]:
        """The signed headers of one attempt."""
        timestamp = str(int(sent_at))
        headers = {"content-type": "application/json", "webhook-id": delivery.id, "webhook-timestamp": timestamp, "user-agent": "jobs-emulator-webhooks/1"}  # fmt: skip
        if delivery.webhook_id is not None:
            signed = f"{delivery.id}.{timestamp}.".encode() + delivery.body
            entries = []
            for secret in self._live_secrets(delivery.webhook_id):
                key = base64.b64decode(secret.removeprefix("whsec_"))
                entries.append("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())  # fmt: skip
            headers["webhook-signature"] = " ".join(entries)
        else:
            claims = {
                "iss": "https://generativelanguage.googleapis.com",
                "aud": delivery.uri,
                "sub": delivery.interaction_id,
                "iat": int(sent_at),
                "exp": int(sent_at) + TOKEN_LIFETIME,
                "webhook_id": delivery.id,
                "webhook_timestamp": timestamp,
                "body_sha256": b64url(hashlib.sha256(delivery.body).digest()),
            }
            headers["webhook-signature"] = self.sign_jwt(claims)
        return headers

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"alg": "RS256", "typ": "JWT", "kid": self._kid}
        head = b64url(json.dumps(header, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self._key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64url(signature)}"

    def pump(self, timeout: float = 5.0) -> int:
        """Attempt every delivery that is due now; returns how many attempts were made."""
        with self._lock:
            now = self.clock.now()
            due = [d for d in self._queue if d.due <= now and not d.held]
            for d in due:
                self._queue.remove(d)
        made = 0
        for delivery in due:
            made += 1
            self._attempt(delivery, timeout)
        return made

    def _attempt(self, delivery: Delivery, timeout: float) -> None:
        host = urlsplit(delivery.uri).hostname or ""
        with self._lock:
            self.counts["attempts"] += 1
            delivery.attempts += 1
            headers = self.headers(delivery, self.clock.now().timestamp())
            down = self._fault("down", delivery.uri)
        if host not in LOOPBACK:
            outcome, error = "refused", f"the emulator posts only to loopback hosts, not {host!r}"
        elif down:
            outcome, error = "failed", "connection refused (fault: receiver down)"
        else:
            outcome, error = _post(delivery.uri, delivery.body, headers, timeout)
        with self._lock:
            now = self.clock.now()
            delivery.log.append({"at": _stamp(now), "outcome": outcome, **({"error": error} if error else {})})  # fmt: skip
            delivery.last_error = error
            if outcome == "delivered":
                delivery.status = "delivered"
                self.counts["delivered"] += 1
                self._release_held(delivery.uri)
            elif outcome == "refused":
                delivery.status = "refused"
                self.counts["refused"] += 1
            else:
                self.counts["failed_attempts"] += 1
                if delivery.attempts >= MAX_ATTEMPTS:
                    delivery.status = "failed"
                    self.counts["gave_up"] += 1
                    if delivery.webhook_id in self._hooks:
                        self._hooks[delivery.webhook_id]["state"] = (
                            "disabled_due_to_failed_deliveries"
                        )
                else:
                    delay = min(BACKOFF_CAP, 2.0 ** (delivery.attempts - 1))
                    delivery.due = now + timedelta(seconds=delay)
                    self._queue.append(delivery)
                    return
            self._done.append(delivery)
            del self._done[:-1000]

    def _release_held(self, uri: str) -> None:
        for d in self._queue:
            if d.held and d.uri == uri:
                d.held = False

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.summary() for d in self._done + self._queue]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self.counts, "registered": len(self._hooks), "queued": len(self._queue), "watched": len(self._configs), "faults": [f.to_dict() for f in self._faults]}  # fmt: skip

    # --- faults --------------------------------------------------------------------------------------

    def add_fault(self, spec: dict[str, Any] | None = None, /, **kwargs: Any) -> WebhookFault:
        data = {**(spec or {}), **kwargs}
        unknown = set(data) - {"kind", "times", "seconds", "uri"}
        if unknown:
            raise ValueError(f"unknown webhook fault field(s): {', '.join(sorted(unknown))}")
        if data.get("kind") not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {data.get('kind')!r}")  # fmt: skip
        times = data.get("times", 1)
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 0
        ):
            raise ValueError(f"times must be a whole number or null, got {times!r}")
        seconds = data.get("seconds")
        if data["kind"] == "delay" and not isinstance(seconds, int | float):
            raise ValueError("a delay fault needs seconds")
        with self._lock:
            fault = WebhookFault(self._next_fault, data["kind"], times, seconds, data.get("uri"))
            self._next_fault += 1
            self._faults.append(fault)
            return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def _fault(self, kind: str, uri: str) -> float | bool:
        """Whether a fault of `kind` fires for a delivery to `uri` (its seconds for `delay`)."""
        for fault in self._faults:
            if fault.kind != kind or (fault.uri and fault.uri != uri):
                continue
            if fault.times is not None and fault.hits >= fault.times:
                continue
            fault.hits += 1
            return fault.seconds or True if kind == "delay" else True
        return False


def _post(uri: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[str, str | None]:
    request = urllib.request.Request(uri, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - loopback only
            return (
                ("delivered", None)
                if 200 <= reply.status < 300
                else ("failed", f"HTTP {reply.status}")
            )
    except urllib.error.HTTPError as exc:
        return "failed", f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return "failed", f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


_KEY_LOCK = threading.Lock()
_KEY: list[tuple[Any, str]] = []


def _signing_key() -> tuple[Any, str]:
    """The RSA key that signs dynamic deliveries: one per process, made when first needed
    (making one takes tens of milliseconds; most emulators never sign a JWT)."""
    with _KEY_LOCK:
        if not _KEY:
            from cryptography.hazmat.primitives.asymmetric import rsa

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _KEY.append((key, f"emulator-{secrets.token_hex(4)}"))
        return _KEY[0]


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _check_body(body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received.")
    unknown = set(body) - {"name", "uri", "subscribed_events", "state"}
    if unknown:
        raise invalid_argument(
            f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}".'
        )
    if creating and (not body.get("uri") or not body.get("subscribed_events")):
        raise invalid_argument("uri and subscribed_events are required.")
    if "uri" in body and (not isinstance(body["uri"], str) or not body["uri"].startswith(("http://", "https://"))):  # fmt: skip
        raise invalid_argument(f"Invalid uri {body.get('uri')!r}.")
    events = body.get("subscribed_events")
    if events is not None and (not isinstance(events, list) or not all(isinstance(e, str) for e in events)):  # fmt: skip
        raise invalid_argument("subscribed_events must be a list of event names.")
    if "state" in body and body["state"] not in STATES:
        raise invalid_argument(f"Invalid state {body['state']!r}.")
    return body


class Dispatcher:
    """A thread that announces ended interactions and makes due deliveries, every `interval` s."""

    def __init__(self, backend: Any, interval: float = 0.05) -> None:
        self.backend, self.interval = backend, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="jobs-emulator-webhooks", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.backend.dispatch_webhooks()
            except Exception:  # a bug here must not stop deliveries for good
                import logging

                logging.getLogger(__name__).exception("webhook dispatch failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
