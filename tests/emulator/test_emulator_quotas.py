"""Quotas per model and per agent: creates per window and concurrent runs, through the real SDK.

A create over a quota is answered 429 RESOURCE_EXHAUSTED before it takes effect, with a retry
delay (the `Retry-After` header and `google.rpc.RetryInfo`) that is truthful: a retry after it
succeeds if nothing else came in, and one a little earlier does not.
"""

from __future__ import annotations

import time
from datetime import datetime
from types import SimpleNamespace

import httpx2
import pytest
from emulator_checks import make_client
from google.genai import _interactions as errors
from google.genai._gaos.utils import retries as sdk_retries

from jobs.emulator.quotas import Limit, parse_limit, retry_delay

MODEL = "gemini-3-flash-preview"
RESEARCH = "deep-research-pro-preview-12-2025"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
pytestmark = pytest.mark.filterwarnings("ignore:Triggers usage is experimental:UserWarning")


def research(client, text: str = "a question"):
    return client.interactions.create(agent=RESEARCH, input=text, background=True)


def refused(call) -> tuple[float, dict]:
    """Run `call`, which must be answered 429; returns (Retry-After seconds, error body)."""
    with pytest.raises(errors.RateLimitError) as caught:
        call()
    error = caught.value
    assert error.status_code == 429
    delay = float(error.response.headers["retry-after"])
    body = error.body["error"]
    assert body["status"] == "RESOURCE_EXHAUSTED" and body["code"] == 429
    retry = [d for d in body["details"] if d["@type"] == RETRY_INFO]
    assert retry == [{"@type": RETRY_INFO, "retryDelay": f"{delay:.3f}s".replace(".000s", "s")}]
    assert f"Please retry in {error.response.headers['retry-after']}s." in body["message"]
    return delay, body


def test_creates_a_minute_get_a_429_with_a_truthful_retry_delay(client, emulator, clock):
    emulator.backend.configure(quotas={RESEARCH: "2/min"})
    research(client, "one")
    clock.advance(20)
    research(client, "two")
    clock.advance(10)
    delay, body = refused(lambda: research(client, "three"))
    assert delay == pytest.approx(30, abs=0.002)  # the first create leaves the window at 60 s
    failure = body["details"][0]
    assert failure["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"
    assert failure["violations"][0]["quotaDimensions"] == {"location": "global", "agent": RESEARCH}
    assert failure["violations"][0]["quotaValue"] == "2"
    assert "InteractionRequestsPerMinute" in failure["violations"][0]["quotaId"]
    clock.advance(delay - 0.002)
    assert refused(lambda: research(client, "three"))[0] <= 0.003  # a bit early: still refused
    clock.advance(0.002)
    assert research(client, "three").status == "queued"  # after the delay: accepted
    counts = emulator.backend.stats()["quotas"]["by_name"][RESEARCH]
    assert (counts["creates"], counts["answered_429"]) == (3, 2)
    assert emulator.backend.stats()["creates"] == 3  # refused creates took no effect


def test_refused_creates_consume_nothing(client, emulator, clock):
    emulator.backend.configure(quotas={MODEL: "1/min"})
    client.interactions.create(model=MODEL, input="first")
    delays = []
    for _ in range(5):
        clock.advance(5)
        delays.append(refused(lambda: client.interactions.create(model=MODEL, input="again"))[0])
    assert delays == pytest.approx([55, 50, 45, 40, 35], abs=0.002)  # the same moment, each time
    clock.advance(delays[-1])
    assert client.interactions.create(model=MODEL, input="again").status == "completed"


def test_concurrent_runs_wait_for_the_first_to_end(client, emulator, clock):
    emulator.backend.configure(quotas={RESEARCH: "1"})
    first = research(client, "long")
    ends_at = next(i["ends_at"] for i in emulator.backend.list_interactions() if i["id"] == first.id)  # fmt: skip
    clock.advance(60)
    delay, body = refused(lambda: research(client, "second"))
    remaining = (datetime.fromisoformat(ends_at) - clock.now()).total_seconds()
    assert delay == pytest.approx(remaining, abs=0.002)  # exactly when the running one ends
    assert "ConcurrentInteractions" in body["details"][0]["violations"][0]["quotaId"]
    clock.advance(delay)
    assert client.interactions.get(first.id).status == "completed"
    second = research(client, "second")
    refused(lambda: research(client, "third"))
    client.interactions.cancel(second.id)  # a cancel frees the slot at once
    assert research(client, "third").status == "queued"
    assert emulator.backend.stats()["quotas"]["by_name"][RESEARCH]["running"] == 1


def test_quotas_are_per_name_with_a_default(client, emulator):
    emulator.backend.configure(quotas={MODEL: "1/min", "*": "2/min"})
    client.interactions.create(model=MODEL, input="x")
    refused(lambda: client.interactions.create(model=MODEL, input="y"))
    other = "gemini-3.1-pro-preview"
    for text in ("a", "b"):
        client.interactions.create(model=other, input=text)  # its own 2/min, from the default
    refused(lambda: client.interactions.create(model=other, input="c"))
    research(client)  # the agent has its own count under the same default
    by_name = emulator.backend.stats()["quotas"]["by_name"]
    assert {n: (c["creates"], c["answered_429"]) for n, c in by_name.items()} == {
        MODEL: (1, 1),
        other: (2, 1),
        RESEARCH: (1, 0),
    }
    assert emulator.backend.stats()["quotas"]["limits"] == {MODEL: "1/min", "*": "2/min"}


def test_a_daily_quota_and_a_cap_together(client, emulator, clock):
    emulator.backend.configure(quotas={MODEL: {"per_day": 2, "concurrent": 5}})
    client.interactions.create(model=MODEL, input="morning")
    clock.advance(3600)
    client.interactions.create(model=MODEL, input="noon")
    delay, _ = refused(lambda: client.interactions.create(model=MODEL, input="evening"))
    assert delay == pytest.approx(86400 - 3600, abs=0.002)


def test_quotas_count_on_emulated_time(client, emulator, clock):
    emulator.backend.configure(speed=60, quotas={MODEL: "1/min"})  # an emulated minute a second
    client.interactions.create(model=MODEL, input="x")
    delay, _ = refused(lambda: client.interactions.create(model=MODEL, input="y"))
    assert delay == pytest.approx(1.0, abs=0.002)
    clock.advance(delay)
    client.interactions.create(model=MODEL, input="y")


def test_the_sdk_default_retries_wait_the_delay_and_get_through(emulator, clock, monkeypatch):
    """The SDK's own retry loop sleeps the Retry-After it was given (here on the fake clock)
    and its one retry is accepted: the delay is neither too short nor needlessly long."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr(sdk_retries, "time", SimpleNamespace(time=time.time, sleep=sleep))
    emulator.backend.configure(quotas={MODEL: "1/min"})
    client = make_client(emulator.base_url, attempts=None)  # the SDK's own retry policy
    client.interactions.create(model=MODEL, input="first")
    clock.advance(15)
    assert client.interactions.create(model=MODEL, input="second").status == "completed"
    assert slept == [45.001]
    counts = emulator.backend.stats()["quotas"]["by_name"][MODEL]
    assert (counts["creates"], counts["answered_429"]) == (2, 1)


def test_a_firing_over_the_quota_fails_its_execution(client, emulator):
    emulator.backend.configure(quotas={RESEARCH: "1/min"})
    trigger = client.triggers.create(
        interaction={"agent": RESEARCH, "input": "x"}, schedule="0 0 * * *", time_zone="UTC"
    )
    assert client.triggers.run(trigger.id).status == "in_progress"
    over = client.triggers.run(trigger.id)
    assert over.status == "failed" and over.interaction_id is None
    assert over.error.startswith("RESOURCE_EXHAUSTED: You exceeded your current quota")
    refused(lambda: research(client))  # the firing used the minute's create
    counts = emulator.backend.stats()["quotas"]["by_name"][RESEARCH]
    assert {k: counts[k] for k in ("creates", "answered_429", "fired", "fired_refused")} == {
        "creates": 0,
        "answered_429": 1,
        "fired": 1,
        "fired_refused": 1,
    }


@pytest.mark.parametrize(
    "quotas",
    [
        {RESEARCH: "5/fortnight"},
        {RESEARCH: "five"},
        {RESEARCH: ""},
        {"": "1"},
        ["x"],
        {RESEARCH: {"per_week": 1}},
    ],  # fmt: skip
)
def test_bad_quotas_are_refused_and_change_nothing(emulator, quotas):
    base = emulator.base_url
    assert httpx2.post(f"{base}/_emulator/config", json={"quotas": {MODEL: "3/min"}}).status_code == 200  # fmt: skip
    reply = httpx2.post(f"{base}/_emulator/config", json={"quotas": quotas, "speed": 5})
    assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    config = httpx2.get(f"{base}/_emulator/config").json()
    assert config["quotas"] == {MODEL: "3/min"} and config["speed"] == 1.0  # nothing applied


def test_quota_config_over_http_and_clearing_it(client, emulator):
    base = emulator.base_url
    reply = httpx2.post(f"{base}/_emulator/config", json={"quotas": {RESEARCH: "5/min,2", MODEL: {"per_minute": 1}}})  # fmt: skip
    assert reply.json()["quotas"] == {RESEARCH: "5/min,2", MODEL: "1/min"}
    client.interactions.create(model=MODEL, input="x")
    refused(lambda: client.interactions.create(model=MODEL, input="y"))
    assert httpx2.post(f"{base}/_emulator/config", json={"quotas": {}}).json()["quotas"] == {}
    client.interactions.create(model=MODEL, input="y")


def test_parse_limit_and_retry_delay():
    assert parse_limit("5/min,2") == Limit(((5, 60),), 2)
    assert parse_limit("100/day, 5/min") == Limit(((5, 60), (100, 86400)), None)
    assert parse_limit("3") == Limit((), 3) and parse_limit("3").text() == "3"
    assert parse_limit({"per_hour": 10, "concurrent": 1}).text() == "10/h,1"
    assert retry_delay(30.0) == 30.001 and retry_delay(0.0998) == 0.1  # never early
    assert retry_delay(82800.0) == 82800.001
    assert retry_delay(float("inf")) == 60.0


def test_reset_forgets_quotas_and_their_counts(client, emulator):
    emulator.backend.configure(quotas={MODEL: "1/min"})
    client.interactions.create(model=MODEL, input="x")
    refused(lambda: client.interactions.create(model=MODEL, input="y"))
    emulator.backend.reset()
    assert emulator.backend.stats()["quotas"] == {"limits": {}, "by_name": {}}
    client.interactions.create(model=MODEL, input="y")
