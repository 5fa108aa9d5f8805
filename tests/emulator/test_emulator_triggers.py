"""Triggers: the real SDK's `client.triggers` against the emulator, firing on emulated time.

Every test drives the resource through google-genai 3.4 (or raw HTTP where the SDK refuses a body
client-side) and checks what a runner would rely on: the fields of Trigger and TriggerExecution,
firings at their scheduled moment whether or not anyone looked, skips, failures that pause a
trigger, timeouts, and executions that outlive their interactions.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from emulator_checks import API_KEY, make_client, wait_for
from google.genai import _interactions as errors
from google.genai import triggers as gt

RESEARCH = "deep-research-preview-04-2026"
QUICK = "antigravity-preview-05-2026"  # an agent that is not Deep Research: seconds, not minutes
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the FakeClock's start (a Monday)
# The SDK warns once that `client.triggers` is experimental, attributing it to the caller.
pytestmark = pytest.mark.filterwarnings("ignore:Triggers usage is experimental:UserWarning")


def research(text: str = "What changed overnight?") -> dict:
    return {"agent": RESEARCH, "input": text, "agent_config": {"type": "deep-research"}}


def quick(text: str = "Summarise the day.") -> dict:
    return {"agent": QUICK, "input": text}


def raw(emulator, method: str, path: str, body: dict | None = None) -> httpx2.Response:
    return httpx2.request(
        method,
        f"{emulator.base_url}/v1{path}",
        json=body,
        headers={"x-goog-api-key": API_KEY},
        timeout=10,
    )


def executions(client, trigger_id: str) -> list[gt.TriggerExecution]:
    """All of a trigger's executions, oldest first (the API lists newest first, by pages)."""
    out, token = [], None
    while True:
        page = client.triggers.list_executions(trigger_id, page_size=100, page_token=token)
        out.extend(page.trigger_executions or [])
        token = page.next_page_token
        if not token:
            return out[::-1]


def test_the_sdk_triggers_resource_end_to_end(client, emulator, clock):
    created = client.triggers.create(
        interaction=research(),
        schedule="0 2 * * *",
        time_zone="Europe/Berlin",
        display_name="nightly",
        environment_id="env_1",
        execution_timeout_seconds=3600,
        max_consecutive_failures=3,
    )
    assert isinstance(created, gt.Trigger) and created.id.startswith("trg_")
    assert (created.schedule, created.time_zone, created.status) == ("0 2 * * *", "Europe/Berlin", "active")  # fmt: skip
    assert (created.display_name, created.environment_id) == ("nightly", "env_1")
    assert (created.execution_timeout_seconds, created.max_consecutive_failures) == (3600, 3)
    assert created.interaction.agent == RESEARCH and created.interaction.input == "What changed overnight?"  # fmt: skip
    assert created.create_time == NOON and created.update_time == NOON
    assert created.next_run_time == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)  # 02:00 CEST
    for unset in ("consecutive_failure_count", "last_run_time", "last_pause_time", "last_resume_time", "previous_interaction_id"):  # fmt: skip
        assert getattr(created, unset) is None, unset
    wire = raw(emulator, "GET", f"/triggers/{created.id}").json()
    assert (
        gt.Trigger.model_validate(wire).model_dump() == created.model_dump()
    )  # strict: no fallback
    assert wire["create_time"] == "2026-06-01T12:00:00Z"  # RFC 3339, as protobuf Timestamps are

    assert client.triggers.get(created.id).model_dump() == created.model_dump()
    assert [t.id for t in client.triggers.list().triggers] == [created.id]
    clock.advance(60)
    renamed = client.triggers.update(created.id, display_name="overnight")
    assert renamed.display_name == "overnight" and renamed.update_time == NOON + timedelta(
        minutes=1
    )

    run = client.triggers.run(created.id)  # fire now
    assert isinstance(run, gt.TriggerExecution) and run.trigger_id == created.id
    assert run.status == "in_progress" and run.environment_id == "env_1"
    assert run.scheduled_time == run.start_time == NOON + timedelta(minutes=1)
    assert run.end_time is None and run.error is None
    interaction = client.interactions.get(run.interaction_id)  # an ordinary interaction
    assert interaction.agent == RESEARCH and interaction.status in ("queued", "in_progress")
    assert gt.TriggerExecution.model_validate(
        raw(emulator, "GET", f"/triggers/{created.id}/executions").json()["trigger_executions"][0]
    ).id == run.id  # fmt: skip
    after = client.triggers.get(created.id)
    assert after.previous_interaction_id == run.interaction_id
    assert after.last_run_time == run.start_time

    assert client.triggers.delete(created.id) is not None  # the SDK's Empty
    with pytest.raises(errors.NotFoundError):
        client.triggers.get(created.id)
    with pytest.raises(errors.NotFoundError):
        client.triggers.list_executions(created.id)
    assert client.interactions.get(run.interaction_id).id == run.interaction_id  # it lives on
    stats = emulator.backend.stats()
    assert stats["requests"]["triggers"] == 11 and stats["responses"]["triggers"] == {"200": 9, "404": 2}  # fmt: skip
    assert (
        stats["creates"] == 0 and stats["triggers"]["fired"] == 1
    )  # a firing is not a client create


@pytest.mark.parametrize(
    ("given", "expected"),
    [  # the input shapes of the SDK's own test_triggers_lifecycle.py, as the SDK sends them
        ("a string", "a string"),
        (
            [{"type": "user_input", "content": [{"type": "text", "text": "a step"}]}],
            [{"type": "user_input", "content": [{"type": "text", "text": "a step"}]}],
        ),
        (
            [{"type": "text", "text": "one"}, {"text": "two"}],
            [
                {
                    "type": "user_input",
                    "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
                }
            ],
        ),  # fmt: skip
        ({"type": "text", "text": "one content"}, {"type": "text", "text": "one content"}),
    ],
)
def test_the_interaction_shapes_the_sdk_sends(client, emulator, given, expected):
    environment = {"type": "remote", "network": {"allowlist": [{"domain": "github.com"}]}}
    agent = "projects/my-project/locations/my-location/agents/my-agent"
    trigger = client.triggers.create(
        interaction={"agent": agent, "input": given, "environment": environment},
        schedule="0 0 * * *",
        time_zone="UTC",
    )
    wire = raw(emulator, "GET", f"/triggers/{trigger.id}").json()["interaction"]
    assert wire == {"agent": agent, "input": expected, "environment": environment}
    run = client.triggers.run(trigger.id)
    made = client.interactions.get(run.interaction_id, include_input=True)
    assert made.agent == agent and made.model_dump(mode="json")["input"] == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interaction": {"model": "gemini-3-flash-preview", "input": "x"}}, "interaction.model"),
        (
            {"interaction": {"agent": QUICK, "model": "gemini-3-flash-preview", "input": "x"}},
            "interaction.model",
        ),  # fmt: skip
        ({"interaction": {"agent": QUICK}}, "input"),
        ({"interaction": {"agent": QUICK, "input": "x", "store": False}}, "store"),
        ({"interaction": "do it"}, "interaction"),
        ({"schedule": "0 0 * *"}, "schedule"),
        ({"schedule": "0 25 * * *"}, "schedule"),
        ({"schedule": "0 0 31 2 *"}, "schedule"),  # never fires
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"max_consecutive_failures": 0}, "max_consecutive_failures"),
        ({"execution_timeout_seconds": -5}, "execution_timeout_seconds"),
        ({"status": "paused"}, "status"),  # output only on create
        ({"cron": "0 0 * * *"}, "cron"),
    ],
)
def test_bad_triggers_are_refused_as_the_service_would(emulator, body, field):
    full = {"interaction": quick(), "schedule": "0 0 * * *", "time_zone": "UTC", **body}
    reply = raw(emulator, "POST", "/triggers", full)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    violations = [
        v["field"] for d in error.get("details", []) for v in d.get("fieldViolations", [])
    ]
    assert field in violations or field in error["message"], error
    assert raw(emulator, "GET", "/triggers").json() == {"triggers": []}


def test_only_agent_interactions_can_be_scheduled_through_the_sdk(client):
    with pytest.raises(errors.BadRequestError) as refused:
        client.triggers.create(
            interaction={"agent": QUICK, "model": "gemini-3-flash-preview", "input": "x"},
            schedule="0 0 * * *",
            time_zone="UTC",
        )
    assert "Only agent interactions can be scheduled" in refused.value.body["error"]["message"]


def test_updates_are_only_name_and_status(client, emulator):
    trigger = client.triggers.create(interaction=quick(), schedule="0 0 * * *", time_zone="UTC")
    with pytest.raises(errors.BadRequestError):
        client.triggers.update(trigger.id, status="error")  # the service's to set
    for body in ({"schedule": "* * * * *"}, {"colour": "red"}, {"display_name": 7}):
        assert raw(emulator, "PATCH", f"/triggers/{trigger.id}", body).status_code == 400
    with pytest.raises(errors.NotFoundError):
        client.triggers.update("trg_nope", status="paused")
    assert client.triggers.get(trigger.id).model_dump() == trigger.model_dump()


def test_firings_happen_on_emulated_time_whether_or_not_anyone_looks(client, emulator, clock):
    emulator.backend.configure(speed=3600)  # an emulated hour per real second
    trigger = client.triggers.create(interaction=quick(), schedule="0 * * * *", time_zone="UTC")
    clock.advance(5.5)  # 12:00 -> 17:30 emulated, with no request in between
    done = executions(client, trigger.id)
    assert [e.scheduled_time for e in done] == [NOON + timedelta(hours=h) for h in range(1, 6)]
    for n, execution in enumerate(done, start=1):
        assert execution.status == "completed" and execution.start_time == execution.scheduled_time
        assert execution.scheduled_time < execution.end_time < NOON + timedelta(hours=5.5)
        interaction = client.interactions.get(execution.interaction_id)
        assert interaction.status == "completed"
        # created at the real moment of its emulated hour: fired on time, not when looked at
        assert interaction.created == f"2026-06-01T12:00:0{n}Z"
    events = list(client.interactions.get(done[0].interaction_id, stream=True))
    assert events[0].event_type == "interaction.created"
    assert events[-1].event_type == "interaction.completed"  # its stream replays, as any other
    after = client.triggers.get(trigger.id)
    assert after.last_run_time == NOON + timedelta(hours=5)
    assert after.next_run_time == NOON + timedelta(hours=6)
    assert after.previous_interaction_id == done[-1].interaction_id


def test_the_dispatcher_fires_with_no_request_at_all(emulator, clock):
    """A running emulator's dispatcher pass makes firings (and their webhooks) on time."""
    backend = emulator.backend
    backend.configure(speed=3600)
    trigger_id = backend.trigger_call(
        "create", {"interaction": quick(), "schedule": "0 * * * *", "time_zone": "UTC"}
    )["id"]
    requests = backend.stats()["requests"]["triggers"]
    clock.advance(3.5)

    def fired() -> int:
        with backend._lock:
            return backend.triggers.stats()["fired"]

    wait_for(lambda: fired() == 3, timeout=10, what="the dispatcher to fire three hours")
    assert backend.stats()["requests"]["triggers"] == requests  # nobody asked
    assert len(backend.trigger_call("executions", trigger_id)["trigger_executions"]) == 3


def test_a_firing_while_the_last_run_goes_on_is_skipped(client, emulator, clock):
    emulator.backend.configure(speed=60)  # an emulated minute per real second
    trigger = client.triggers.create(interaction=research(), schedule="* * * * *", time_zone="UTC")
    clock.advance(60)  # an emulated hour of every-minute firings; a research run takes minutes
    done = executions(client, trigger.id)
    assert len(done) == 60
    ran = [e for e in done if e.status != "skipped"]
    assert 2 <= len(ran) < 20 and [e for e in done if e.status == "in_progress"] in ([], ran[-1:])
    for earlier, later in zip(ran, ran[1:], strict=False):
        assert earlier.status == "completed" and earlier.end_time <= later.start_time  # no overlap
    for skipped in (e for e in done if e.status == "skipped"):
        assert skipped.interaction_id is None and skipped.start_time is None
        assert skipped.end_time == skipped.scheduled_time


def test_three_failures_pause_the_trigger_until_it_is_resumed(client, emulator, clock):
    emulator.backend.faults.fail_executions(times=3)  # their interactions end failed
    trigger = client.triggers.create(
        interaction=quick(), schedule="*/10 * * * *", time_zone="UTC", max_consecutive_failures=3
    )
    clock.advance(3600)  # six firings were due; the trigger stops after the third failure
    paused = client.triggers.get(trigger.id)
    assert paused.status == "error" and paused.consecutive_failure_count == 3
    assert paused.next_run_time is None
    failed = executions(client, trigger.id)
    assert [e.status for e in failed] == ["failed"] * 3
    assert [e.scheduled_time for e in failed] == [NOON + timedelta(minutes=m) for m in (10, 20, 30)]
    assert paused.last_pause_time == failed[-1].end_time
    for execution in failed:
        assert client.interactions.get(execution.interaction_id).status == "failed"
        assert execution.error.startswith("The interaction ended failed: ")

    resumed = client.triggers.update(trigger.id, status="active")
    assert resumed.status == "active" and resumed.consecutive_failure_count is None
    assert resumed.last_resume_time == NOON + timedelta(hours=1)
    assert resumed.next_run_time == NOON + timedelta(
        hours=1, minutes=10
    )  # missed ones: not made up
    clock.advance(660)
    latest = executions(client, trigger.id)[-1]
    assert latest.scheduled_time == NOON + timedelta(hours=1, minutes=10)
    assert latest.status == "completed"


def test_a_success_resets_the_failure_count(client, emulator, clock):
    emulator.backend.faults.fail_executions(times=2)
    trigger = client.triggers.create(
        interaction=quick(), schedule="*/10 * * * *", time_zone="UTC", max_consecutive_failures=3
    )
    clock.advance(1260)  # 12:10 and 12:20 fired and failed (each within seconds)
    assert client.triggers.get(trigger.id).consecutive_failure_count == 2
    clock.advance(1200)
    assert [e.status for e in executions(client, trigger.id)] == ["failed", "failed", "completed", "completed"]  # fmt: skip
    after = client.triggers.get(trigger.id)
    assert after.status == "active" and after.consecutive_failure_count is None


def test_a_firing_that_cannot_create_its_interaction_fails_at_once(client, emulator):
    emulator.backend.faults.fail_executions(times=1, mode="create", message="backend unavailable")
    trigger = client.triggers.create(interaction=quick(), schedule="0 0 * * *", time_zone="UTC")
    failed = client.triggers.run(trigger.id)
    assert failed.status == "failed" and failed.interaction_id is None
    assert failed.end_time == failed.start_time and failed.error == "INTERNAL: backend unavailable"
    assert client.triggers.get(trigger.id).consecutive_failure_count == 1
    assert client.triggers.run(trigger.id).status == "in_progress"  # the fault was for one firing


def test_a_run_past_its_timeout_is_timed_out_and_its_interaction_cancelled(client, clock):
    trigger = client.triggers.create(
        interaction=research(), schedule="0 0 * * *", time_zone="UTC", execution_timeout_seconds=120
    )
    run = client.triggers.run(trigger.id)
    clock.advance(119)
    assert client.triggers.list_executions(trigger.id).trigger_executions[0].status == "in_progress"
    clock.advance(60)
    timed_out = client.triggers.list_executions(trigger.id).trigger_executions[0]
    assert timed_out.status == "timed_out" and timed_out.end_time == run.start_time + timedelta(seconds=120)  # fmt: skip
    assert "120 s" in timed_out.error
    cancelled = client.interactions.get(run.interaction_id)
    assert cancelled.status == "cancelled"
    assert cancelled.updated == "2026-06-01T12:02:00Z"  # cancelled at the deadline, not later
    assert client.triggers.get(trigger.id).consecutive_failure_count == 1


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("cancel", "The interaction ended cancelled."),
        ("delete", "The interaction was deleted before it ended."),
    ],  # fmt: skip
)
def test_a_client_ending_the_interaction_fails_the_execution(client, clock, action, error):
    trigger = client.triggers.create(interaction=research(), schedule="0 0 * * *", time_zone="UTC")
    run = client.triggers.run(trigger.id)
    clock.advance(30)
    getattr(client.interactions, action)(run.interaction_id)
    ended = client.triggers.list_executions(trigger.id).trigger_executions[0]
    assert (ended.status, ended.error) == ("failed", error)
    assert ended.end_time == run.start_time + timedelta(seconds=30)


def test_executions_keep_their_record_after_the_interaction_is_forgotten(client, emulator, clock):
    emulator.backend.configure(tier="free")  # the service forgets after a day
    trigger = client.triggers.create(interaction=quick(), schedule="0 3 * * *", time_zone="UTC")
    clock.advance(86400 * 2)
    done = executions(client, trigger.id)
    assert [e.status for e in done] == ["completed", "completed"]
    with pytest.raises(errors.NotFoundError):
        client.interactions.get(done[0].interaction_id)  # past retention
    assert client.interactions.get(done[1].interaction_id).status == "completed"
    assert done[0].interaction_id and done[0].end_time  # the record stays, with the id


def test_a_paused_trigger_does_not_make_up_missed_firings(client, clock):
    trigger = client.triggers.create(interaction=quick(), schedule="0 * * * *", time_zone="UTC")
    paused = client.triggers.update(trigger.id, status="paused")
    assert paused.status == "paused" and paused.last_pause_time == NOON
    assert paused.next_run_time is None
    clock.advance(5 * 3600 + 60)
    assert executions(client, trigger.id) == []
    manual = client.triggers.run(trigger.id)  # run works on a paused trigger
    assert manual.status == "in_progress"
    resumed = client.triggers.update(trigger.id, status="active")
    assert resumed.next_run_time == NOON + timedelta(hours=6)
    clock.advance(3600)
    assert [e.scheduled_time for e in executions(client, trigger.id)] == [
        NOON + timedelta(hours=5, minutes=1),
        NOON + timedelta(hours=6),
    ]


def test_listing_filters_and_pages(client, emulator):
    made = [
        client.triggers.create(
            interaction=quick(), schedule="0 0 * * *", time_zone="UTC", display_name=f"t{n}"
        )  # fmt: skip
        for n in range(3)
    ]
    client.triggers.update(made[1].id, status="paused")
    assert [t.id for t in client.triggers.list(filter_='status = "paused"').triggers] == [made[1].id]  # fmt: skip
    assert [t.id for t in client.triggers.list(filter_="status!=paused AND display_name=t2").triggers] == [made[2].id]  # fmt: skip
    first = client.triggers.list(page_size=2)
    second = client.triggers.list(page_size=2, page_token=first.next_page_token)
    assert [t.id for t in first.triggers + second.triggers] == [t.id for t in made]
    assert second.next_page_token is None
    with pytest.raises(errors.BadRequestError):
        client.triggers.list(filter_="colour = red")

    runs = [client.triggers.run(made[0].id).id for _ in range(3)]
    page = client.triggers.list_executions(made[0].id, page_size=2)
    assert [e.id for e in page.trigger_executions] == runs[:0:-1]  # newest first
    newer = client.triggers.run(made[0].id).id  # a run between two pages shifts nothing
    rest = client.triggers.list_executions(made[0].id, page_size=2, page_token=page.next_page_token)
    assert [e.id for e in rest.trigger_executions] == runs[:1] and rest.next_page_token is None
    assert client.triggers.list_executions(made[0].id).trigger_executions[0].id == newer


def test_the_async_client(emulator, clock):
    async def scenario() -> tuple[gt.Trigger, list]:
        client = make_client(emulator.base_url).aio
        trigger = await client.triggers.create(
            interaction=quick(), schedule="*/5 * * * *", time_zone="UTC"
        )
        clock.advance(630)
        listed = await client.triggers.list_executions(trigger.id)
        await client.triggers.delete(trigger.id)
        return trigger, listed.trigger_executions

    trigger, listed = asyncio.run(scenario())
    assert trigger.status == "active" and [e.status for e in listed] == ["completed", "completed"]


def test_failure_faults_over_http_for_one_trigger_or_a_rate(client, emulator):
    one = client.triggers.create(interaction=quick(), schedule="0 0 * * *", time_zone="UTC")
    other = client.triggers.create(interaction=quick(), schedule="0 0 * * *", time_zone="UTC")
    faults = f"{emulator.base_url}/_emulator/faults"
    rule = {"kind": "trigger_failure", "trigger": one.id, "mode": "create", "times": None}
    assert httpx2.post(faults, json=rule).status_code == 200
    assert [client.triggers.run(one.id).status for _ in range(3)] == ["failed"] * 3
    assert client.triggers.run(other.id).status == "in_progress"
    httpx2.delete(faults)
    httpx2.post(faults, json={"kind": "trigger_failure", "rate": 0.5, "mode": "create"})
    statuses = [client.triggers.run(other.id).status for _ in range(20)]
    assert 3 <= statuses.count("failed") <= 17  # a seeded half
    for bad in ({"kind": "trigger_failure", "mode": "explode"}, {"kind": "trigger_failure", "op": "get"}):  # fmt: skip
        assert httpx2.post(faults, json=bad).status_code == 400
