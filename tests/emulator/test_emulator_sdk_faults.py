"""Conformance under faults: what the real SDK raises, retries and sees for each injected fault."""

from __future__ import annotations

import time

import pydantic
import pytest
from emulator_checks import make_client, strict_interaction
from google.genai import _interactions as errors
from google.genai import interactions as gi
from sdk_api import AsyncApi, SyncApi

MODEL = "gemini-3-flash-preview"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (429, errors.RateLimitError),
        (500, errors.InternalServerError),
        (503, errors.InternalServerError),
        (504, errors.InternalServerError),
    ],
)
def test_each_status_maps_to_its_sdk_error(api, emulator, status, error_class):
    emulator.backend.faults.fail("create", status, times=1)
    with pytest.raises(error_class) as err:
        api.create(model=MODEL, input="x", labels={"job": "f"})
    assert err.value.status_code == status
    assert err.value.body["error"]["code"] == status
    assert api.create(model=MODEL, input="x").status == "completed"
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 2 and stats["creates"] == 1
    assert stats["creates_by_label"] == {}  # the faulted create never happened
    assert stats["responses"]["create"] == {str(status): 1, "200": 1}


def test_429_carries_retry_after_and_retry_info(api, emulator):
    emulator.backend.faults.fail("get", 429, times=1, retry_after=2)
    done = api.create(model=MODEL, input="x")
    with pytest.raises(errors.RateLimitError) as err:
        api.get(done.id)
    assert err.value.response.headers["retry-after"] == "2"
    details = err.value.body["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"} in details
    assert err.value.body["error"]["status"] == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sdk_default_retries_get_through_a_503_for_the_next_two(emulator, mode):
    emulator.backend.faults.fail("create", 503, times=2, retry_after=0.05)

    def make():
        return make_client(emulator.base_url, attempts=None)  # the SDK's own retry policy

    api = SyncApi(make) if mode == "sync" else AsyncApi(make)
    done = api.create(model=MODEL, input="retry me", labels={"job": "r1"})
    assert done.status == "completed"
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 3
    assert stats["creates"] == 1 and stats["creates_by_label"] == {"job=r1": 1}
    assert stats["responses"]["create"] == {"503": 2, "200": 1}


def test_sdk_retries_stop_after_five_attempts(emulator):
    emulator.backend.faults.fail("get", 500, retry_after=0.01)
    client = make_client(emulator.base_url, attempts=None)
    with pytest.raises(errors.InternalServerError):
        client.interactions.get("int_whatever")
    assert emulator.backend.stats()["requests"]["get"] == 5


def test_accept_then_delay_times_out_after_the_create_happened(emulator):
    emulator.backend.faults.accept_then_delay("create", 3.0)
    client = make_client(emulator.base_url)
    started = time.monotonic()
    with pytest.raises(errors.APITimeoutError):
        client.interactions.create(
            model=MODEL, input="slow reply", labels={"job": "t1"}, timeout=0.3
        )
    assert time.monotonic() - started < 2.5
    stats = emulator.backend.stats()
    assert stats["creates_by_label"] == {"job=t1": 1}  # it was created; only the reply was lost
    assert stats["interactions"]["live"] == 1
    assert stats["requests"]["create"] == 1


def test_accept_then_fail_makes_sdk_retries_create_twice(emulator):
    emulator.backend.faults.accept_then_fail("create", 500, times=1)
    client = make_client(emulator.base_url, attempts=None)
    done = client.interactions.create(model=MODEL, input="duplicate risk", labels={"job": "d1"})
    assert done.status == "completed"
    stats = emulator.backend.stats()
    assert stats["requests"]["create"] == 2
    assert stats["creates_by_label"] == {"job=d1": 2}  # the duplicate the runner must avoid


def test_html_502(api, emulator):
    done = api.create(model=MODEL, input="x")
    emulator.backend.faults.malformed("get", "html_502")
    with pytest.raises(errors.InternalServerError) as err:
        api.get(done.id)
    assert err.value.status_code == 502
    assert "That's an error." in err.value.response.text
    assert err.value.response.headers["content-type"].startswith("text/html")


def test_invalid_json_on_a_200(api, emulator):
    emulator.backend.faults.malformed("create", "invalid_json")
    with pytest.raises(errors.APIError) as err:
        api.create(model=MODEL, input="garbled", labels={"job": "g"})
    assert not isinstance(err.value, errors.APIStatusError)
    assert err.value.status_code == 200
    assert emulator.backend.stats()["creates_by_label"] == {"job=g": 1}


def test_missing_fields_on_a_200(api, emulator):
    done = api.create(model=MODEL, input="x")
    emulator.backend.faults.malformed("get", "missing_fields")
    partial = api.get(done.id)
    assert partial.status is None and not partial.id  # the SDK's lenient fallback
    raw_client = make_client(emulator.base_url)  # kept in a name: a dropped client closes itself
    raw = raw_client.interactions.with_raw_response.get(done.id).json()
    assert raw["status"] == "completed"  # the rule fired once
    emulator.backend.faults.malformed("get", "missing_fields")
    broken = raw_client.interactions.with_raw_response.get(done.id).json()
    assert "id" not in broken and "status" not in broken
    with pytest.raises(pydantic.ValidationError):
        strict_interaction(broken)


@pytest.mark.parametrize("op", ["cancel", "delete"])
def test_malformed_replies_on_other_operations(emulator, clock, op):
    client = make_client(emulator.base_url)
    created = client.interactions.create(model=MODEL, input="x", background=True)
    emulator.backend.faults.malformed(op, "html_502")
    with pytest.raises(errors.InternalServerError):
        getattr(client.interactions, op)(created.id)
    if op == "cancel":
        assert client.interactions.get(created.id).status == "cancelled"  # it took effect
    else:
        with pytest.raises(errors.NotFoundError):
            client.interactions.get(created.id)


def test_cut_stream_abort_breaks_the_body(api, emulator, clock):
    created = api.create(model=MODEL, input="x", background=True)
    clock.advance(30)
    emulator.backend.faults.cut_stream(4, op="stream", mode="abort")
    with pytest.raises(errors.APIConnectionError):
        api.stream(created.id)
    assert len(api.stream(created.id)) > 4  # the next stream is whole again


def test_cut_stream_eof_ends_quietly_without_completion(api, emulator, clock):
    created = api.create(model=MODEL, input="x", background=True)
    clock.advance(30)
    emulator.backend.faults.cut_stream(4, op="stream", mode="eof")
    events = api.stream(created.id)
    assert [e.event_id for e in events] == ["evt_0001", "evt_0002", "evt_0003", "evt_0004"]
    assert not any(isinstance(e, gi.InteractionCompletedEvent) for e in events)
    rest = api.stream(created.id, last_event_id=events[-1].event_id)
    assert rest[0].event_id == "evt_0005" and isinstance(rest[-1], gi.InteractionCompletedEvent)


def test_cut_stream_on_a_streamed_create(emulator):
    emulator.backend.faults.cut_stream(2, op="create", mode="abort")
    client = make_client(emulator.base_url)
    seen = []
    with pytest.raises(errors.APIConnectionError):  # noqa: SIM117
        with client.interactions.create(model=MODEL, input="x", stream=True) as events:
            seen.extend(events)
    assert len(seen) == 2


def test_retention_ttl_answers_404(api, emulator, clock):
    emulator.backend.configure(retention=86400)
    done = api.create(model=MODEL, input="keep a day")
    clock.advance(86399)
    assert api.get(done.id).status == "completed"
    clock.advance(2)
    with pytest.raises(errors.NotFoundError):
        api.get(done.id)
    with pytest.raises(errors.NotFoundError):
        api.stream(done.id)


def test_a_20_mb_output(emulator):
    emulator.backend.configure(output_bytes=20_000_000)
    client = make_client(emulator.base_url)
    done = client.interactions.create(model=MODEL, input="a very long answer")
    assert len(done.output_text.encode()) == 20_000_000
    assert done.usage.total_output_tokens == 5_000_000


def test_added_latency(emulator):
    client = make_client(emulator.base_url)
    done = client.interactions.create(model=MODEL, input="x")
    emulator.backend.configure(latency=0.25)
    started = time.monotonic()
    client.interactions.get(done.id)
    assert time.monotonic() - started >= 0.25


def test_a_fraction_of_gets_fail(emulator):
    client = make_client(emulator.base_url)
    done = client.interactions.create(model=MODEL, input="x")
    rule = emulator.backend.faults.fail("get", 503, rate=0.5)
    failures = 0
    for _ in range(40):
        try:
            client.interactions.get(done.id)
        except errors.InternalServerError:
            failures += 1
    assert 8 <= failures <= 32
    assert emulator.backend.faults.rules()[0]["hits"] == failures == rule.hits
    assert emulator.backend.stats()["responses"]["get"] == {"503": failures, "200": 40 - failures}


def test_forced_outcome_for_a_label_via_sdk(api, emulator, clock):
    emulator.backend.faults.force_outcome("budget_exceeded", label="job=poor", times=None)
    rich = api.create(model=MODEL, input="x", labels={"job": "rich"}, background=True)
    poor = api.create(model=MODEL, input="x", labels={"job": "poor"}, background=True)
    clock.advance(30)
    assert api.get(rich.id).status == "completed"
    assert api.get(poor.id).status == "budget_exceeded"
