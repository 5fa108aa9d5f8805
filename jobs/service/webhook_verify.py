"""Checking that a webhook delivery comes from the API, is fresh and is meant for us.

Two schemes (docs/webhooks.md): registered webhooks sign with Standard Webhooks HMAC-SHA256
(`webhook-signature: v1,<base64>` entries over "{webhook-id}.{webhook-timestamp}.{body}", keyed
with the base64 part of a `whsec_` secret); per-request (`webhook_config`) webhooks put an RS256 JWT
in `webhook-signature`, verified against the API's published keys (JWKS), whose claims bind it to
this URI (`aud`), this body (`body_sha256`), this id and this timestamp. Either way the timestamp
must be within `tolerance` seconds of now: an old delivery replayed later is refused, and so is a
forged or altered one. Refusals raise `WebhookRefused` with a reason that never contains a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TOLERANCE = 300.0  # seconds: Standard Webhooks' recommendation
KEYS_MAX_AGE = 3600.0  # seconds a fetched JWKS is trusted before it is fetched again
KEYS_MIN_REFRESH = 60.0  # an unknown kid refetches the keys at most this often


class WebhookRefused(Exception):
    """A delivery that must not be acted on; `reason` is safe to log."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Verified:
    webhook_id: str
    timestamp: int
    payload: dict[str, Any]
    scheme: str  # "hmac" or "jwt"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WebhookVerifier:
    """Verifies deliveries; `secrets` are `whsec_...` strings, `fetch_keys()` returns a JWKS."""

    def __init__(
        self,
        secrets: Sequence[str] = (),
        fetch_keys: Callable[[], dict[str, Any]] | None = None,
        audience: str | None = None,
        tolerance: float = TOLERANCE,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._keys_hmac = []
        for secret in secrets:
            try:
                self._keys_hmac.append(
                    base64.b64decode(secret.removeprefix("whsec_"), validate=True)
                )
            except (binascii.Error, ValueError):
                raise ValueError("a webhook signing secret is not whsec_ + base64") from None
        self._fetch_keys = fetch_keys
        self.audience = audience
        self.tolerance = tolerance
        self._now = now
        self._lock = threading.Lock()
        self._jwks: dict[str, Any] = {}
        self._jwks_at = -float("inf")

    def verify(self, headers: Mapping[str, str], body: bytes) -> Verified:
        lower = {k.lower(): v for k, v in headers.items()}
        webhook_id = lower.get("webhook-id", "")
        stamp = lower.get("webhook-timestamp", "")
        signature = lower.get("webhook-signature", "")
        if not webhook_id or not stamp or not signature:
            raise WebhookRefused("missing webhook-id, webhook-timestamp or webhook-signature")
        try:
            timestamp = int(stamp)
        except ValueError:
            raise WebhookRefused("webhook-timestamp is not a number") from None
        now = self._now()
        if abs(now - timestamp) > self.tolerance:
            raise WebhookRefused(
                f"stale or replayed delivery: timestamp {int(now - timestamp)}s off (limit {int(self.tolerance)}s)"
            )
        if signature.count(".") == 2 and "," not in signature:
            self._check_jwt(signature, webhook_id, stamp, body, now)
            scheme = "jwt"
        else:
            self._check_hmac(signature, webhook_id, stamp, body)
            scheme = "hmac"
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRefused("the body is not JSON", status=400) from None
        if not isinstance(payload, dict):
            raise WebhookRefused("the body is not a JSON object", status=400)
        return Verified(webhook_id, timestamp, payload, scheme)

    def _check_hmac(self, signature: str, webhook_id: str, stamp: str, body: bytes) -> None:
        if not self._keys_hmac:
            raise WebhookRefused("an HMAC-signed delivery, but no signing secret is configured")
        signed = f"{webhook_id}.{stamp}.".encode() + body
        given = []
        for entry in signature.split():
            version, _, value = entry.partition(",")
            if version == "v1":
                try:
                    given.append(base64.b64decode(value, validate=True))
                except (binascii.Error, ValueError):
                    continue
        for key in self._keys_hmac:
            expected = hmac.new(key, signed, hashlib.sha256).digest()
            if any(hmac.compare_digest(expected, g) for g in given):
                return
        raise WebhookRefused("bad signature (HMAC does not match any configured secret)")

    def _check_jwt(self, token: str, webhook_id: str, stamp: str, body: bytes, now: float) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        head_b64, claims_b64, sig_b64 = token.split(".")
        try:
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, binascii.Error):
            raise WebhookRefused("malformed signature token") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise WebhookRefused("signature token is not RS256")
        jwk = self._key_for(str(header.get("kid", "")))
        try:
            n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
            e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
            key.verify(signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())  # fmt: skip
        except (InvalidSignature, KeyError, ValueError):
            raise WebhookRefused("bad signature (token signature does not verify)") from None
        if not isinstance(claims, dict):
            raise WebhookRefused("malformed signature token")
        if self.audience and claims.get("aud") != self.audience:
            raise WebhookRefused("signature token is for another receiver (aud)")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now - 5:
            raise WebhookRefused("signature token expired")
        if claims.get("webhook_id") != webhook_id or claims.get("webhook_timestamp") != stamp:
            raise WebhookRefused("signature token does not match webhook-id/webhook-timestamp")
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        if not hmac.compare_digest(str(claims.get("body_sha256", "")), digest):
            raise WebhookRefused("the body was altered (body_sha256 does not match)")

    def _key_for(self, kid: str) -> dict[str, Any]:
        if self._fetch_keys is None:
            raise WebhookRefused("a token-signed delivery, but no key source is configured")
        with self._lock:
            age = time.monotonic() - self._jwks_at
            if kid not in self._jwks and (age > KEYS_MIN_REFRESH or not self._jwks) or age > KEYS_MAX_AGE:  # fmt: skip
                try:
                    keys = self._fetch_keys().get("keys") or []
                except Exception as exc:
                    raise WebhookRefused(f"cannot fetch the API's signing keys: {exc}", status=503) from None  # fmt: skip
                self._jwks = {str(k.get("kid", "")): k for k in keys if isinstance(k, dict)}
                self._jwks_at = time.monotonic()
            if kid not in self._jwks:
                raise WebhookRefused(f"signature token names an unknown key {kid!r}")
            return self._jwks[kid]
