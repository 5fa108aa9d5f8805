"""The page's server without a browser: who may use it, what it answers, the event stream."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from http_client import Client
from waiting import wait_for

from jobs.service import SubmitSpec
from jobs.service.conversation import conversation, reply_target, send_message
from jobs.web.security import Guard

TEST_KEY = "test-key"  # the key tests/conftest.py gives every test's settings


@pytest.fixture
def web_db_url(database_url) -> str:
    """These tests run on SQLite and on PostgreSQL (when JOBS_TEST_POSTGRES_URL is set)."""
    return database_url


def page_token(client: Client) -> str:
    html = client.get("/").text
    return re.search(r'name="jobs-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def client(web):
    return Client(web.url)


def post(client: Client, path, body=None, *, token=None, origin="same"):
    headers = {}
    if origin == "same":
        headers["origin"] = str(client.base_url).rstrip("/")
    elif origin:
        headers["origin"] = origin
    if token:
        headers["x-jobs-token"] = token
    return client.post(path, json_body=body if body is not None else {}, headers=headers)


def test_a_post_needs_the_page_token_and_our_own_origin(client, web):
    token = page_token(client)
    message = {"prompt": "hello"}
    assert post(client, "/api/messages", message, token=token, origin=None).status_code == 403
    evil = post(client, "/api/messages", message, token=token, origin="http://evil.example")
    assert evil.status_code == 403 and "cross-site" in evil.json()["error"]
    assert post(client, "/api/messages", message, token="wrong").status_code == 403
    assert post(client, "/api/messages", message).status_code == 403
    assert web.app.service.list_jobs() == []  # none of those changed anything
    sent = post(client, "/api/messages", message, token=token)
    assert sent.status_code == 201, sent.text
    assert [j.id for j in web.app.service.list_jobs()] == [sent.json()["turn"]["id"]]


def test_only_loopback_host_names_are_answered(client):
    # A web site that points its own name at 127.0.0.1 (DNS rebinding) is refused.
    response = client.get("/api/jobs", headers={"host": "attacker.example:8000"})
    assert response.status_code == 403
    assert client.get("/api/jobs", headers={"host": "localhost"}).status_code == 200


def test_every_answer_carries_a_strict_content_security_policy(client):
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert client.get("/static/app.js").headers["x-content-type-options"] == "nosniff"


def test_the_api_key_never_reaches_the_browser(client, web, advance_until):
    token = page_token(client)
    turn = post(client, "/api/messages", {"prompt": "hi"}, token=token).json()["turn"]
    advance_until(lambda: web.app.service.get_job(turn["id"]).status == "completed")
    bodies = [
        client.get(path).text
        for path in (
            "/",
            "/api/config",
            "/api/jobs",
            f"/api/jobs/{turn['id']}/conversation",
            f"/api/jobs/{turn['id']}/events",
            "/static/app.js",
            "/static/markdown.js",
            "/static/app.css",
        )
    ]
    text = ""
    for chunk in client.stream("/api/stream", params={"jobs": turn["id"]}):
        text += chunk
        if "interaction.completed" in text:
            break
    for body in [*bodies, text]:
        assert TEST_KEY not in body


def stream_events(client, params, *, headers=None, until) -> list[dict]:
    """Read the SSE stream until `until(events)`; returns the journal events (with their ids)."""
    events: list[dict] = []
    buffer = ""
    for chunk in client.stream("/api/stream", params=params, headers=headers):
        buffer += chunk
        while "\n\n" in buffer:
            message, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in message.splitlines() if ": " in line)
            if fields.get("event") == "journal":
                data = json.loads(fields["data"])
                assert fields["id"] == str(data["seq"])
                events.append(data)
        if until(events):
            return events
    return events


def test_the_stream_sends_the_journal_by_seq_and_resumes_after_last_event_id(
    client, web, advance_until
):
    job = web.app.service.submit_new(SubmitSpec(prompt="Tell me about streams"))
    # The page watches the jobs it shows, so the worker streams them at once (an unwatched job
    # that is due for a poll is polled first, and one that ended meanwhile has no journal).
    web.app.service.watch([job.id], seconds=600)
    advance_until(lambda: web.app.service.get_job(job.id).status == "completed")
    stored = web.app.service.events(job.id)
    assert len(stored) > 5
    everything = stream_events(client, {"jobs": job.id}, until=lambda e: len(e) == len(stored))
    assert [e["seq"] for e in everything] == [e.seq for e in stored]
    assert [e["payload"] for e in everything] == [e.payload for e in stored]
    assert [e["type"] for e in everything] == [e.event_type for e in stored]
    # A browser reconnecting says where it was; the stream goes on from exactly there.
    middle = stored[len(stored) // 2].seq
    rest = stream_events(
        client,
        {"jobs": job.id, "after": "0"},
        headers={"last-event-id": str(middle)},
        until=lambda e: e and e[-1]["seq"] == stored[-1].seq,
    )
    assert [e["seq"] for e in rest] == [e.seq for e in stored if e.seq > middle]


def test_the_stream_shows_only_the_jobs_asked_for_and_says_which_jobs_changed(
    client, web, advance_until
):
    mine = web.app.service.submit_new(SubmitSpec(prompt="mine"))
    other = web.app.service.submit_new(SubmitSpec(prompt="someone else's"))
    web.app.service.watch([mine.id, other.id], seconds=600)  # as the page does (see above)
    advance_until(
        lambda: all(web.app.service.get_job(j.id).status == "completed" for j in (mine, other))
    )
    events = stream_events(
        client, {"jobs": mine.id}, until=lambda e: e and e[-1]["type"] == "interaction.completed"
    )
    assert {e["job_id"] for e in events} == {mine.id}
    # Job changes (any job: the jobs panel lists them all) come as `job` events.
    changed: list[str] = []
    for chunk in client.stream("/api/stream"):
        if "event: hello" in chunk:
            web.app.service.submit_new(SubmitSpec(prompt="a new one"))
        changed += [
            json.loads(line[6:])["prompt"]
            for line in chunk.splitlines()
            if line.startswith("data: {") and '"prompt"' in line
        ]
        if "a new one" in changed:
            break
    assert "a new one" in changed


def test_a_message_continues_the_last_turn_that_can_be_continued(web, advance_until):
    service = web.app.service
    first = send_message(service, SubmitSpec(prompt="one"), after=None)
    second = send_message(service, SubmitSpec(prompt="two"), after=first.id)
    assert second.parent_job_id == first.id and second.status == "pending"
    # Sent from the first turn's page while the second exists: it still goes at the end.
    third = send_message(service, SubmitSpec(prompt="three"), after=first.id)
    assert third.parent_job_id == second.id
    service.cancel(third.id)
    assert reply_target(service, first.id).id == second.id  # a cancelled turn is passed over
    advance_until(lambda: service.get_job(second.id).status == "completed")
    fourth = send_message(service, SubmitSpec(prompt="four"), after=third.id)
    assert fourth.parent_job_id == second.id
    assert [t.id for t in conversation(service, first.id)] == [first.id, second.id, third.id]


def test_bad_requests_are_refused_with_a_reason(client, web):
    token = page_token(client)
    assert post(client, "/api/messages", {"prompt": ""}, token=token).status_code == 400
    wrong = post(client, "/api/messages", {"prompt": 3}, token=token)
    assert wrong.status_code == 400 and "string" in wrong.json()["error"]
    both = post(client, "/api/messages", {"prompt": "x", "model": "m", "agent": "a"}, token=token)
    assert both.status_code == 400 and "either" in both.json()["error"]
    missing = post(client, "/api/jobs/nosuch/cancel", token=token)
    assert missing.status_code == 404
    assert client.get("/api/jobs/nosuch/conversation").status_code == 404
    assert web.app.service.list_jobs() == []


def test_cancel_of_an_ended_job_is_a_conflict(client, web, advance_until):
    job = web.app.service.submit_new(SubmitSpec(prompt="quick"))
    advance_until(lambda: web.app.service.get_job(job.id).status == "completed")
    response = post(client, f"/api/jobs/{job.id}/cancel", token=page_token(client))
    assert response.status_code == 409 and "already ended" in response.json()["error"]


# -- served to other machines: the access token ------------------------------------------------


@pytest.fixture
def remote(web_settings, clock, emulator):
    from jobs.app import build_app
    from jobs.web.server import WebServer

    app = build_app(web_settings, clock=clock, kind="web")
    guard = Guard.for_bind("0.0.0.0", allow_remote=True)
    server = WebServer(app, guard, host="127.0.0.1", port=0).start()
    try:
        yield server
    finally:
        server.stop()
        app.close()


def test_without_the_access_token_nothing_is_served(remote):
    base = f"http://127.0.0.1:{remote.port}"
    client = Client(base, headers={"host": "10.0.0.5:8000"})
    for path in ("/", "/static/app.js", "/api/jobs", "/api/stream"):
        assert client.get(path).status_code == 401, path
    assert client.get("/?token=guess").status_code == 401
    token = remote.guard.access_token
    opened = client.get(f"/?token={token}")
    assert opened.status_code == 303 and opened.headers["location"] == "/"
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    with_cookie = {"cookie": cookie.split(";")[0]}
    assert client.get("/api/jobs", headers=with_cookie).status_code == 200
    bearer = {"authorization": f"Bearer {token}"}
    assert client.get("/api/jobs", headers=bearer).status_code == 200


def test_binding_another_address_needs_the_explicit_flag():
    with pytest.raises(ValueError):
        Guard.for_bind("0.0.0.0", allow_remote=False)
    assert Guard.for_bind("127.0.0.1", allow_remote=False).access_token is None
    assert Guard.for_bind("192.168.1.4", allow_remote=True).access_token


# -- the command ---------------------------------------------------------------------------------


def test_serve_refuses_a_non_loopback_host_without_the_flag(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from jobs.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --host 0.0.0.0 is not a loopback address")


@pytest.mark.slow
def test_serve_port_0_prints_the_url_and_serves_the_page(emulator, tmp_path):
    env = {
        **os.environ,
        "JOBS_HOME": str(tmp_path / "home"),
        "GEMINI_API_KEY": TEST_KEY,
        "GOOGLE_GEMINI_BASE_URL": emulator.base_url,
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "jobs"), "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = process.stdout.readline()
        match = re.match(r"jobs serve: (http://127\.0\.0\.1:\d+/)$", line.strip())
        assert match, line
        url = match.group(1)
        page = wait_for(lambda: Client(url).get("/"), what="the page")
        assert page.status_code == 200 and 'name="jobs-token"' in page.text
        assert TEST_KEY not in page.text
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "worker running in this process" in err
    assert "jobs serve stopped" in err
