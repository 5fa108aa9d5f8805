"""Completion pushed by webhook, end to end: the real SDK creates jobs with a per-request webhook
on the emulator, whose signed deliveries reach the runner's receiver over HTTP; polling stays the
fallback. Emulator counters prove the cost: create + one get per job."""

from __future__ import annotations

import json
import logging

import httpx2
import pytest
from waiting import wait_for

from jobs.models import JobStatus
from jobs.service import SubmitSpec
from jobs.webhook_routes import WebhookListener

PATH = "/webhooks/interactions"


@pytest.fixture
def pushed(make_settings, make_service, emulator, database_url):
    """A service created with webhooks on (SQLite, and PostgreSQL when configured), and its
    receiver listening on a loopback port."""
    holder = {}
    listener = WebhookListener(lambda: holder["service"], "127.0.0.1", 0).start()
    settings = make_settings(database_url, **{"webhooks.public_url": listener.url})
    holder["service"] = make_service(settings)
    yield holder["service"], listener
    listener.stop()


def deliveries(service):
    from sqlmodel import select

    from jobs.models import WebhookDelivery

    with service.store.db.read() as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_job_completed_by_webhook_costs_a_create_and_one_get(pushed, emulator, clock):
    service, listener = pushed
    job = service.submit_new(SubmitSpec(prompt="Explain tides."))
    sent = json.loads(service.get_job(job.id).request_json)
    assert sent["webhook_config"] == {
        "uris": [listener.url + PATH],
        "user_metadata": {"jobs_id": job.id},
    }
    clock.advance(20)  # the interaction ends; the emulator delivers; nobody polls
    done = wait_for(lambda: (j := service.get_job(job.id)).job_status.is_terminal and j, what="the webhook")  # fmt: skip
    assert done.status == "completed"
    assert service.get_result(job.id).output_text
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 1 and stats["requests"]["get"] == 1
    assert stats["requests"]["stream"] == 0
    wait_for(lambda: [d.outcome for d in deliveries(service)] == ["recorded"])
    assert service.run_pass().polled == 0  # nothing left to poll


def test_a_duplicate_delivery_is_dropped(pushed, emulator, clock):
    service, _ = pushed
    emulator.backend.webhooks.add_fault(kind="duplicate")
    job = service.submit_new(SubmitSpec(prompt="Twice."))
    clock.advance(20)
    wait_for(lambda: len(deliveries(service)) == 1 and service.get_job(job.id).job_status.is_terminal)  # fmt: skip
    wait_for(lambda: emulator.backend.stats()["webhooks"]["delivered"] == 2, what="the second copy")
    assert len(deliveries(service)) == 1  # stored once, under its webhook-id
    assert emulator.backend.stats()["requests"]["get"] == 1


def test_a_forged_delivery_is_refused_and_logged_without_secrets(pushed, emulator, clock, caplog):
    service, listener = pushed
    job = service.submit_new(SubmitSpec(prompt="Forge me."))
    body = json.dumps({"type": "interaction.completed", "version": "v1", "data": {"id": job.interaction_id, "status": "completed"}, "user_metadata": {"jobs_id": job.id}}).encode()  # fmt: skip
    stamp = str(int(clock.now().timestamp()))
    forged_token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    caplog.set_level(logging.WARNING)
    for signature in (forged_token, "v1,bm90IGEgcmVhbCBzaWduYXR1cmU="):
        reply = httpx2.post(listener.url + PATH, content=body, headers={"webhook-id": "msg_forged", "webhook-timestamp": stamp, "webhook-signature": signature, "content-type": "application/json"})  # fmt: skip
        assert reply.status_code == 401, reply.text
    assert service.get_job(job.id).job_status is not JobStatus.COMPLETED
    assert emulator.backend.stats()["requests"]["get"] == 0  # a forged delivery costs no get
    refused = [d for d in deliveries(service) if d.outcome == "refused"]
    assert len(refused) == 2 and all(d.webhook_id is None for d in refused)
    text = caplog.text
    assert "webhook delivery refused" in text
    assert forged_token not in text and "bm90IGEgcmVhbCBzaWduYXR1cmU=" not in text
    # the real delivery still gets through: the forged one did not take its id
    clock.advance(20)
    wait_for(lambda: service.get_job(job.id).job_status is JobStatus.COMPLETED)


def test_a_replayed_or_stale_delivery_is_refused(pushed, emulator, clock):
    service, listener = pushed
    captured = {}

    original = emulator.backend.webhooks.headers

    def spy(delivery, sent_at):
        headers = original(delivery, sent_at)
        captured["headers"], captured["body"] = headers, delivery.body
        return headers

    emulator.backend.webhooks.headers = spy
    try:
        job = service.submit_new(SubmitSpec(prompt="Replay me."))
        clock.advance(20)
        wait_for(lambda: service.get_job(job.id).job_status.is_terminal)
    finally:
        emulator.backend.webhooks.headers = original
    clock.advance(600)  # ten minutes later, someone replays the captured delivery
    reply = httpx2.post(listener.url + PATH, content=captured["body"], headers={**captured["headers"], "webhook-id": "msg_replayed"})  # fmt: skip
    assert reply.status_code == 401
    assert deliveries(service)[-1].outcome == "refused"
    assert "stale or replayed" in deliveries(service)[-1].reason


def test_a_lost_delivery_delays_the_job_never_loses_it(pushed, emulator, clock):
    service, _ = pushed
    emulator.backend.webhooks.add_fault(kind="lose")
    job = service.submit_new(SubmitSpec(prompt="Lost in the post."))
    clock.advance(20)
    emulator.backend.dispatch_webhooks()
    assert emulator.backend.stats()["webhooks"]["lost"] == 1
    assert service.run_pass().polled == 0  # not polled before the fallback interval
    assert not service.get_job(job.id).job_status.is_terminal
    clock.advance(float(service.settings["webhooks.fallback_interval"]) * 1.2)
    service.run_pass()
    done = service.get_job(job.id)
    assert done.status == "completed"
    assert emulator.backend.stats()["requests"]["get"] == 1  # the fallback poll


def test_an_unconfirmed_delivery_is_left_to_polling(pushed, emulator, clock):
    service, _ = pushed
    emulator.backend.faults.fail("get", 500, times=1)
    job = service.submit_new(SubmitSpec(prompt="Confirm me."))
    clock.advance(20)
    wait_for(lambda: deliveries(service) and deliveries(service)[0].outcome == "unconfirmed")
    service.run_pass()  # made due at once by the receiver
    assert service.get_job(job.id).status == "completed"


def test_doctor_reports_webhook_health(pushed, emulator, clock):
    from jobs.app import App
    from jobs.doctor import run_checks

    service, _ = pushed
    service.submit_new(SubmitSpec(prompt="Healthy?"))
    clock.advance(20)
    wait_for(lambda: [d.outcome for d in deliveries(service)] == ["recorded"])
    emulator.backend.webhooks.add_fault(kind="lose")
    lost = service.submit_new(SubmitSpec(prompt="Missed?"))
    clock.advance(20 + 400)
    service.run_pass()
    assert service.get_job(lost.id).job_status.is_terminal
    app = App(service.settings, service.store.db, service.store, service.gateway, service)
    [check] = [c for c in run_checks(app) if c.name == "webhooks"]
    assert check.level == "warn"
    assert "1 recorded" in check.detail and lost.id in check.detail


def test_a_registered_webhook_signed_with_its_secret_completes_jobs(make_settings, make_service, emulator, clock):  # fmt: skip
    """A project-level webhook (client.webhooks.create) and its whsec_ secret: HMAC deliveries,
    the job found by its interaction id (no user_metadata)."""
    from google import genai
    from google.genai import types

    holder = {}
    listener = WebhookListener(lambda: holder["service"], "127.0.0.1", 0).start()
    try:
        client = genai.Client(
            api_key="k", http_options=types.HttpOptions(base_url=emulator.base_url)
        )
        hook = client.webhooks.create(uri=listener.url + PATH, subscribed_events=["interaction.completed"])  # fmt: skip
        settings = make_settings(**{"webhooks.signing_secret": hook.new_signing_secret})
        service = holder["service"] = make_service(settings)
        job = service.submit_new(SubmitSpec(prompt="Registered."))
        assert "webhook_config" not in json.loads(service.get_job(job.id).request_json)
        clock.advance(20)
        wait_for(lambda: service.get_job(job.id).status == "completed")
        assert emulator.backend.stats()["requests"]["get"] == 1
        wait_for(lambda: [d.outcome for d in deliveries(service)] == ["recorded"])
    finally:
        listener.stop()


def test_a_running_job_that_expects_a_webhook_is_polled_only_on_the_fallback_schedule(pushed, emulator, clock):  # fmt: skip
    service, _ = pushed
    emulator.backend.faults.force_outcome("in_progress")  # a run that never ends
    job = service.submit_new(SubmitSpec(prompt="Research slowly.", agent="deep-research-preview-04-2026"))  # fmt: skip
    fallback = float(service.settings["webhooks.fallback_interval"])
    polls = 0
    for _ in range(int(fallback * 3 / 10)):  # 3 fallback intervals, a pass every 10 s
        clock.advance(10)
        polls += service.run_pass().polled
    assert 2 <= polls <= 4  # one per fallback interval, not ~10 per run so far
    assert not service.get_job(job.id).job_status.is_terminal
