"""The HTTP layer on the wire: routes, error bodies, SSE framing and the /_emulator controls."""

from __future__ import annotations

import threading

import httpx2
import pytest
from emulator_checks import raw_get, sse_payloads, wait_for

MODEL = "gemini-3-flash-preview"
KEY = {"x-goog-api-key": "k"}


def post(base_url: str, path: str, body: object = None, **kwargs: object) -> httpx2.Response:
    return httpx2.post(f"{base_url}{path}", json=body, timeout=10, **kwargs)


def test_any_version_routes_and_vertex_paths(emulator):
    for prefix in ("/v1", "/v1beta", "/v1beta1", "/v1beta1/projects/p/locations/us-central1"):
        created = post(
            emulator.base_url,
            f"{prefix}/interactions",
            {"model": MODEL, "input": "hi"},
            headers=KEY,
        )
        assert created.status_code == 200, prefix
        got = raw_get(
            emulator.base_url, f"{prefix}/interactions/{created.json()['id']}", stream="false"
        )
        assert got.json()["status"] == "completed"
    assert emulator.backend.stats()["api_versions"] == {"v1": 2, "v1beta": 2, "v1beta1": 4}


def test_unknown_routes_and_methods_answer_google_style_errors(emulator):
    missing = httpx2.get(f"{emulator.base_url}/v1/models", headers=KEY)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND"
    wrong = httpx2.put(f"{emulator.base_url}/v1/interactions/abc", headers=KEY)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == 405


def test_missing_key_is_401_and_a_query_key_is_accepted(emulator):
    denied = post(emulator.base_url, "/v1/interactions", {"model": MODEL, "input": "x"})
    assert denied.status_code == 401
    error = denied.json()["error"]
    assert (
        error["status"] == "UNAUTHENTICATED"
        and error["details"][0]["reason"] == "CREDENTIALS_MISSING"
    )
    allowed = post(emulator.base_url, "/v1/interactions?key=abc", {"model": MODEL, "input": "x"})
    assert allowed.status_code == 200


def test_bad_bodies_and_parameters_are_400(emulator):
    garbled = httpx2.post(f"{emulator.base_url}/v1/interactions", content=b"{nope", headers=KEY)
    assert garbled.status_code == 400
    assert garbled.json()["error"]["message"].startswith("Invalid JSON payload received")
    neither = post(emulator.base_url, "/v1/interactions", {"input": "x"}, headers=KEY)
    assert neither.status_code == 400
    assert (
        neither.json()["error"]["details"][0]["@type"]
        == "type.googleapis.com/google.rpc.BadRequest"
    )
    created = post(
        emulator.base_url, "/v1/interactions", {"model": MODEL, "input": "x"}, headers=KEY
    ).json()
    path = f"/v1/interactions/{created['id']}"
    assert raw_get(emulator.base_url, path, stream="maybe").status_code == 400
    assert raw_get(emulator.base_url, path, stream="true", last_event_id="sse-1").status_code == 400
    assert emulator.backend.stats()["requests"]["create"] == 3  # the garbled body reached create


def test_delete_answers_an_empty_object(emulator):
    created = post(
        emulator.base_url, "/v1/interactions", {"model": MODEL, "input": "x"}, headers=KEY
    ).json()
    deleted = httpx2.delete(f"{emulator.base_url}/v1/interactions/{created['id']}", headers=KEY)
    assert (deleted.status_code, deleted.json()) == (200, {})


def test_sse_framing(emulator, clock):
    created = post(
        emulator.base_url, "/v1/interactions", {"model": MODEL, "input": "x"}, headers=KEY
    ).json()
    reply = raw_get(emulator.base_url, f"/v1/interactions/{created['id']}", stream="true")
    assert reply.headers["content-type"].startswith("text/event-stream")
    blocks = reply.text.split("\n\n")
    assert blocks[0].startswith("event: interaction.created\nid: evt_0001\ndata: {")
    assert blocks[-2] == "data: [DONE]" and blocks[-1] == ""
    payloads = sse_payloads(reply.text)
    for block, payload in zip(blocks, payloads[:-1], strict=False):
        event_line, id_line, _ = block.split("\n")
        assert event_line == f"event: {payload['event_type']}"
        assert id_line == f"id: {payload['event_id']}"


def test_keepalive_comments_while_waiting(emulator, clock, monkeypatch):
    monkeypatch.setattr(emulator.app, "keepalive", 0.05)
    created = post(
        emulator.base_url,
        "/v1/interactions",
        {"model": MODEL, "input": "x", "background": True},
        headers=KEY,
    ).json()
    chunks: list[str] = []

    def read() -> None:
        url = f"{emulator.base_url}/v1/interactions/{created['id']}"
        with httpx2.stream("GET", url, params={"stream": "true"}, headers=KEY, timeout=10) as reply:
            for text in reply.iter_text():
                chunks.append(text)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        wait_for(lambda: ": keep-alive" in "".join(chunks))
    finally:
        clock.advance(60)
        reader.join(timeout=5)
    assert "".join(chunks).endswith("data: [DONE]\n\n")


def test_a_stream_reports_a_deleted_interaction(emulator, clock):
    created = post(
        emulator.base_url,
        "/v1/interactions",
        {"model": MODEL, "input": "x", "background": True},
        headers=KEY,
    ).json()
    chunks: list[str] = []

    def read() -> None:
        url = f"{emulator.base_url}/v1/interactions/{created['id']}"
        with httpx2.stream("GET", url, params={"stream": "true"}, headers=KEY, timeout=10) as reply:
            chunks.extend(reply.iter_text())

    reader = threading.Thread(target=read)
    reader.start()
    wait_for(lambda: "evt_0001" in "".join(chunks))
    emulator.backend.delete(created["id"])
    reader.join(timeout=5)
    assert not reader.is_alive()
    payloads = sse_payloads("".join(chunks))
    assert payloads[-2]["event_type"] == "error"
    assert payloads[-2]["error"]["code"] == "not_found"
    assert payloads[-1] == "[DONE]"


def test_control_faults_endpoint(emulator):
    base = emulator.base_url
    added = post(
        base, "/_emulator/faults", {"kind": "fail", "op": "create", "status": 503, "times": 1}
    )
    assert added.status_code == 200
    rule = added.json()["added"][0]
    assert rule["kind"] == "fail" and rule["remaining"] == 1
    refused = post(base, "/_emulator/faults", {"kind": "fail", "status": 200})
    assert refused.status_code == 400 and "status" in refused.json()["error"]["message"]
    both = post(
        base,
        "/_emulator/faults",
        [{"kind": "outcome", "status": "failed"}, {"kind": "cut_stream", "after_events": 2}],
    )
    assert len(both.json()["added"]) == 2
    assert len(httpx2.get(f"{base}/_emulator/faults").json()["faults"]) == 3

    faulted = post(base, "/v1/interactions", {"model": MODEL, "input": "x"}, headers=KEY)
    assert faulted.status_code == 503 and faulted.json()["error"]["status"] == "UNAVAILABLE"
    failed = post(base, "/v1/interactions", {"model": MODEL, "input": "x"}, headers=KEY)
    assert failed.json()["status"] == "failed"

    gone = httpx2.delete(f"{base}/_emulator/faults/{rule['id']}")
    assert gone.status_code == 200 and len(gone.json()["faults"]) == 2
    assert httpx2.delete(f"{base}/_emulator/faults/{rule['id']}").status_code == 404
    httpx2.delete(f"{base}/_emulator/faults")
    assert httpx2.get(f"{base}/_emulator/faults").json()["faults"] == []


def test_control_config_stats_reset_and_clock(emulator, clock):
    base = emulator.base_url
    config = post(base, "/_emulator/config", {"speed": 600, "retention": 3600, "latency": 0})
    assert config.json() == {
        "speed": 600.0,
        "latency": 0.0,
        "tier": "paid",
        "retention": 3600.0,
        "output_bytes": None,
        "live_usage": False,
        "quotas": {},
        "file_ttl": 172800.0,
        "file_limit_bytes": 2 * 1024**3,
        "project_limit_bytes": 20 * 1024**3,
        "inline_limit_bytes": 100 * 1024**2,
        "inline_pdf_limit_bytes": 50 * 1024**2,
        "file_processing": None,
        "missing_file_status": 403,
        "function_rounds": 1,
        "parallel_calls": True,
        "plan_status": "completed",
    }
    assert post(base, "/_emulator/config", {"speed": -1}).status_code == 400
    assert post(base, "/_emulator/config", {"warp": 9}).status_code == 400

    created = post(
        base, "/v1/interactions", {"agent": "deep-research-x", "input": "x", "background": True, "labels": {"job": "c"}},
        headers=KEY,
    ).json()  # fmt: skip
    advanced = post(base, "/_emulator/clock/advance", {"seconds": 3})
    assert advanced.status_code == 200
    listing = httpx2.get(f"{base}/_emulator/interactions").json()["interactions"]
    assert listing == [
        {
            "id": created["id"],
            "status": "completed",
            "created": created["created"],
            "updated": listing[0]["updated"],
            "labels": {"job": "c"},
            "ends_at": listing[0]["ends_at"],  # when it ended, by the emulator's clock
        }
    ]
    assert listing[0]["ends_at"] <= clock.now().isoformat()
    stats = httpx2.get(f"{base}/_emulator/stats").json()
    assert stats["requests"] == {"create": 1, "get": 0, "stream": 0, "cancel": 0, "delete": 0}
    assert stats["creates_by_label"] == {"job=c": 1}
    assert stats["interactions"]["live"] == 1 and stats["speed"] == 600
    assert post(base, "/_emulator/reset").json() == {"ok": True}
    stats = httpx2.get(f"{base}/_emulator/stats").json()
    assert stats["interactions"]["live"] == 0 and stats["speed"] == 1.0
    assert stats["tier"] == "paid" and stats["retention"] == 55 * 86400  # the service's default


@pytest.mark.parametrize("kind", ["html_502", "invalid_json", "missing_fields"])
def test_malformed_bodies_on_the_wire(emulator, kind):
    emulator.backend.faults.malformed("create", kind)
    reply = post(emulator.base_url, "/v1/interactions", {"model": MODEL, "input": "x"}, headers=KEY)
    if kind == "html_502":
        assert reply.status_code == 502 and reply.text.startswith("<!DOCTYPE html>")
    elif kind == "invalid_json":
        assert reply.status_code == 200
        with pytest.raises(ValueError):
            reply.json()
    else:
        assert (
            reply.status_code == 200 and "status" not in reply.json() and "id" not in reply.json()
        )
        assert reply.json()["model"] == MODEL
    assert emulator.backend.stats()["creates"] == 1
