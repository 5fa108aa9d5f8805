"""Webhooks: the official SDK's `client.webhooks` calls against the emulator, and the signed,
at-least-once deliveries (registered: Standard Webhooks HMAC; per-request: RS256 JWT checked
against the published JWKS), with their faults."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from emulator_checks import make_client, wait_for
from google.genai import _interactions as errors
from google.genai import webhooks as gw

from jobs.service.webhook_verify import WebhookRefused, WebhookVerifier

MODEL = "gemini-3-flash-preview"


class Receiver:
    """A loopback HTTP receiver that records deliveries; `down` answers 503."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def jwks_of(emulator):
    return lambda: httpx2.get(f"{emulator.base_url}/.well-known/jwks.json", timeout=5).json()


def test_the_sdk_webhooks_resource(emulator, receiver):
    client = make_client(emulator.base_url)
    created = client.webhooks.create(
        uri=receiver.url, subscribed_events=["interaction.completed"], name="jobs"
    )
    assert isinstance(created, gw.Webhook) and created.id and created.state == "enabled"
    assert created.new_signing_secret.startswith("whsec_")
    assert created.create_time is not None
    listed = client.webhooks.list()
    assert [w.id for w in listed.webhooks] == [created.id]
    assert listed.webhooks[0].new_signing_secret is None  # shown once, at creation
    assert client.webhooks.get(created.id).uri == receiver.url
    updated = client.webhooks.update(
        created.id,
        subscribed_events=["interaction.completed", "interaction.failed"],
        update_mask="subscribed_events",
    )
    assert updated.subscribed_events == ["interaction.completed", "interaction.failed"]
    assert client.webhooks.update(created.id, state="disabled").state == "disabled"
    client.webhooks.update(created.id, state="enabled")
    rotated = client.webhooks.rotate_signing_secret(
        created.id, revocation_behavior="revoke_previous_secrets_after_h24"
    )
    assert isinstance(rotated, gw.WebhookRotateSigningSecretResponse)
    assert rotated.secret.startswith("whsec_") and rotated.secret != created.new_signing_secret
    secrets = client.webhooks.get(created.id).signing_secrets
    assert len(secrets) == 2 and secrets[1].expire_time is not None
    assert isinstance(client.webhooks.ping(created.id), gw.WebhookPingResponse)
    wait_for(lambda: receiver.received)
    headers, body = receiver.received[0]
    assert json.loads(body)["type"] == "webhook.ping"
    # during rotation both secrets sign: a receiver with either one accepts the delivery
    for secret in (created.new_signing_secret, rotated.secret):
        verifier = WebhookVerifier([secret], now=lambda: emulator.backend.clock.now().timestamp())
        assert verifier.verify(headers, body).scheme == "hmac"
    client.webhooks.delete(created.id)
    with pytest.raises(errors.APIError) as caught:
        client.webhooks.get(created.id)
    assert getattr(caught.value, "status_code", None) == 404
    assert client.webhooks.list().webhooks == []
    assert emulator.backend.stats()["requests"]["webhooks"] >= 10


def test_registered_webhook_delivery_is_hmac_signed(emulator, receiver, clock):
    client = make_client(emulator.base_url)
    hook = client.webhooks.create(uri=receiver.url, subscribed_events=["interaction.completed"])
    job = client.interactions.create(model=MODEL, input="moths", background=True)
    clock.advance(30)
    wait_for(lambda: receiver.received)
    headers, body = receiver.received[0]
    payload = json.loads(body)
    assert payload["type"] == "interaction.completed"
    assert payload["data"] == {"id": job.id, "status": "completed"}
    verifier = WebhookVerifier([hook.new_signing_secret], now=lambda: clock.now().timestamp())
    assert verifier.verify(headers, body).webhook_id == headers["webhook-id"]
    forged = body.replace(b"completed", b"cancelled")
    with pytest.raises(WebhookRefused, match="bad signature"):
        verifier.verify(headers, forged)
    with pytest.raises(WebhookRefused, match="stale or replayed"):
        WebhookVerifier([hook.new_signing_secret], now=lambda: clock.now().timestamp() + 600).verify(headers, body)  # fmt: skip


def test_per_request_webhook_is_jwt_signed_with_user_metadata(emulator, receiver, clock):
    client = make_client(emulator.base_url)
    job = client.interactions.create(
        model=MODEL,
        input="moths",
        background=True,
        webhook_config={"uris": [receiver.url], "user_metadata": {"job_id": "j1"}},
    )
    clock.advance(30)
    wait_for(lambda: receiver.received)
    headers, body = receiver.received[0]
    payload = json.loads(body)
    assert payload["user_metadata"] == {"job_id": "j1"} and payload["data"]["id"] == job.id
    verifier = WebhookVerifier(
        fetch_keys=jwks_of(emulator), audience=receiver.url, now=lambda: clock.now().timestamp()
    )
    assert verifier.verify(headers, body).scheme == "jwt"
    with pytest.raises(WebhookRefused, match="altered"):
        verifier.verify(headers, body.replace(b"j1", b"j2"))
    with pytest.raises(WebhookRefused, match="another receiver"):
        WebhookVerifier(fetch_keys=jwks_of(emulator), audience="http://127.0.0.1:1/other", now=lambda: clock.now().timestamp()).verify(headers, body)  # fmt: skip
    other_key = {**headers, "webhook-signature": emulator.backend.webhooks.sign_jwt({"aud": receiver.url})}  # fmt: skip
    with pytest.raises(WebhookRefused):
        verifier.verify(other_key, body)


@pytest.mark.parametrize("status", ["failed", "cancelled", "requires_action"])
def test_every_ending_is_announced(emulator, receiver, clock, status):
    client = make_client(emulator.base_url)
    config = {"uris": [receiver.url]}
    if status == "cancelled":
        job = client.interactions.create(model=MODEL, input="x", background=True, webhook_config=config)  # fmt: skip
        client.interactions.cancel(job.id)
    else:
        emulator.backend.faults.force_outcome(status)
        job = client.interactions.create(model=MODEL, input="x", background=True, webhook_config=config)  # fmt: skip
        clock.advance(30)
    wait_for(lambda: receiver.received)
    assert receiver.payloads()[0]["type"] == f"interaction.{status}"


def test_receiver_down_is_retried_with_backoff(emulator, receiver, clock):
    client = make_client(emulator.base_url)
    receiver.status = 503
    job = client.interactions.create(model=MODEL, input="x", background=True, webhook_config={"uris": [receiver.url]})  # fmt: skip
    clock.advance(30)
    wait_for(lambda: emulator.backend.stats()["webhooks"]["failed_attempts"] == 1)
    receiver.status = 200
    emulator.backend.dispatch_webhooks()
    assert len(receiver.received) == 1  # the next attempt waits for its backoff
    clock.advance(1.5)
    wait_for(lambda: len(receiver.received) == 2)
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]  # the same message, again
    # the receiver records a request before its answer is back at the dispatcher, which counts it
    wait_for(lambda: emulator.backend.stats()["webhooks"]["delivered"] == 1, what="the count")
    assert emulator.backend.stats()["webhooks"]["failed_attempts"] == 1
    assert job.id in second[1].decode()


def test_delivery_faults(emulator, receiver, clock):
    client = make_client(emulator.base_url)
    hooks = emulator.backend.webhooks
    config = {"uris": [receiver.url]}
    hooks.add_fault(kind="duplicate")
    one = client.interactions.create(model=MODEL, input="one", background=True, webhook_config=config)  # fmt: skip
    clock.advance(30)
    wait_for(lambda: len(receiver.received) == 2)
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]
    receiver.received.clear()

    hooks.add_fault(kind="lose")
    client.interactions.create(model=MODEL, input="two", background=True, webhook_config=config)
    clock.advance(30)
    emulator.backend.dispatch_webhooks()
    assert receiver.received == [] and hooks.stats()["lost"] == 1

    hooks.add_fault(kind="delay", seconds=20)
    client.interactions.create(model=MODEL, input="three", background=True, webhook_config=config)
    clock.advance(30)
    emulator.backend.dispatch_webhooks()
    assert receiver.received == []
    clock.advance(21)
    wait_for(lambda: len(receiver.received) == 1)
    receiver.received.clear()

    hooks.add_fault(kind="reorder")
    first = client.interactions.create(model=MODEL, input="four", background=True, webhook_config=config)  # fmt: skip
    clock.advance(30)
    emulator.backend.dispatch_webhooks()
    assert receiver.received == []  # held until the next delivery to this receiver
    second = client.interactions.create(model=MODEL, input="five", background=True, webhook_config=config)  # fmt: skip
    clock.advance(30)
    wait_for(lambda: len(receiver.received) == 2)
    ids = [p["data"]["id"] for p in receiver.payloads()]
    assert ids == [second.id, first.id]
    assert one.id


def test_only_loopback_receivers_get_posts(emulator, clock):
    client = make_client(emulator.base_url)
    client.interactions.create(model=MODEL, input="x", background=True, webhook_config={"uris": ["https://example.com/hook"]})  # fmt: skip
    clock.advance(30)
    wait_for(lambda: emulator.backend.stats()["webhooks"]["refused"] == 1)
    [delivery] = emulator.backend.webhooks.deliveries()
    assert delivery["status"] == "refused" and "loopback" in delivery["last_error"]


def test_webhook_control_endpoints_over_http(emulator, receiver, clock):
    base = emulator.base_url
    added = httpx2.post(f"{base}/_emulator/webhooks/faults", json={"kind": "duplicate"}, timeout=5)
    assert added.status_code == 200 and added.json()["faults"][0]["kind"] == "duplicate"
    bad = httpx2.post(f"{base}/_emulator/webhooks/faults", json={"kind": "explode"}, timeout=5)
    assert bad.status_code == 400
    client = make_client(base)
    client.interactions.create(model=MODEL, input="x", background=True, webhook_config={"uris": [receiver.url]})  # fmt: skip
    clock.advance(30)
    assert httpx2.post(f"{base}/_emulator/webhooks/dispatch", timeout=10).status_code == 200
    wait_for(lambda: len(receiver.received) == 2)
    listed = httpx2.get(f"{base}/_emulator/webhooks/deliveries", timeout=5).json()["deliveries"]
    assert [d["status"] for d in listed] == ["delivered", "delivered"]
    assert httpx2.delete(f"{base}/_emulator/webhooks/faults", timeout=5).json() == {"faults": []}
    keys = httpx2.get(f"{base}/.well-known/jwks.json", timeout=5).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
