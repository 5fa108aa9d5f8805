"""The backend in plain Python, on a fake clock: lifecycle, content, usage, errors and counters."""

from __future__ import annotations

import math

import pytest
from emulator_checks import output_text, run_to_end

from jobs.emulator import EmulatorBackend, EmulatorError
from jobs.emulator.content import tokens

MODEL = "gemini-3-flash-preview"
AGENT = "deep-research-preview-04-2026"


def test_background_model_moves_queued_in_progress_completed(backend, clock):
    created = backend.create({"model": MODEL, "input": "Why is the sky blue?", "background": True})
    assert created["status"] == "queued"
    assert created["steps"] == [] and "usage" not in created
    assert created["created"] == created["updated"] == "2026-06-01T12:00:00Z"

    seen = {created["status"]: created["updated"]}
    for _ in range(40):
        clock.advance(0.5)
        resource = backend.get(created["id"])
        seen.setdefault(resource["status"], resource["updated"])
        if resource["status"] == "in_progress":
            assert "usage" not in resource  # usage only once terminal
    assert list(seen) == ["queued", "in_progress", "completed"]
    assert seen["queued"] < seen["in_progress"] < seen["completed"]  # `updated` moves with it
    final = backend.get(created["id"])
    assert final["created"] == "2026-06-01T12:00:00Z"
    assert "Why is the sky blue?" in output_text(final)


def test_the_queued_to_running_shortcut_matches_a_full_render(backend, clock):
    created = backend.create({"agent": AGENT, "input": "Tidal power", "background": True})
    clock.advance(8.5)  # past the queue, before the first thought ends
    patched = backend.get(created["id"])
    assert patched["status"] == "in_progress" and patched["updated"] > created["updated"]
    backend._records[created["id"]].view = None
    assert backend.get(created["id"]) == patched


@pytest.mark.parametrize("prompt", ["hi", "Explain photosynthesis in detail " * 20, "What is 2+2?"])
def test_a_model_job_takes_3_to_15_simulated_seconds(backend, clock, prompt):
    created = backend.create({"model": MODEL, "input": prompt, "background": True})
    clock.advance(2.9)
    assert backend.get(created["id"])["status"] in ("queued", "in_progress")
    clock.advance(12.2)
    assert backend.get(created["id"])["status"] == "completed"


def test_deep_research_runs_minutes_with_thought_summaries_and_a_report(backend, clock):
    created = backend.create(
        {"agent": AGENT, "input": "The history of tide mills", "background": True}
    )
    clock.advance(299)
    running = backend.get(created["id"])
    assert running["status"] == "in_progress"
    thoughts = [s for s in running["steps"] if s["type"] == "thought"]
    assert len(thoughts) >= 5  # a thought summary every 20-60 simulated seconds
    assert all(s["summary"][0]["text"].startswith("**") for s in thoughts)

    events = backend.events(created["id"]).events
    starts = [
        e["event_id"]
        for e in events
        if e["event_type"] == "step.start" and e["step"]["type"] == "thought"
    ]
    assert len(starts) == len(thoughts) or len(starts) == len(thoughts) + 1

    final = run_to_end(backend, clock, created["id"])
    elapsed = clock.monotonic()
    assert final["status"] == "completed"
    assert 300 <= elapsed <= 1600
    report = output_text(final)
    assert report.startswith("# ") and "## Sources" in report and "## Key findings" in report
    assert "tide" in report.lower()


def test_speed_makes_a_twenty_minute_run_take_seconds(clock):
    backend = EmulatorBackend(clock=clock, speed=600)
    created = backend.create({"agent": AGENT, "input": "Solar sails", "background": True})
    clock.advance(0.4)
    assert backend.get(created["id"])["status"] == "in_progress"
    clock.advance(2.4)  # 1,680 simulated seconds: longer than any research run
    assert backend.get(created["id"])["status"] == "completed"


def test_speed_change_applies_to_new_interactions(backend, clock):
    slow = backend.create({"model": MODEL, "input": "slow", "background": True})
    backend.speed = 100
    fast = backend.create({"model": MODEL, "input": "fast", "background": True})
    clock.advance(0.2)
    assert backend.get(fast["id"])["status"] == "completed"
    assert backend.get(slow["id"])["status"] in ("queued", "in_progress")


def test_non_background_completes_inline_and_post_omits_the_input(backend):
    created = backend.create({"model": MODEL, "input": "Name a prime number"})
    assert created["status"] == "completed"
    assert [s["type"] for s in created["steps"]] == ["thought", "model_output"]
    assert created["usage"]["total_tokens"] > 0
    got = backend.get(created["id"])
    assert got["steps"][0] == {
        "type": "user_input",
        "content": [{"type": "text", "text": "Name a prime number"}],
    }
    assert "input" not in got
    assert backend.get(created["id"], include_input=False)["steps"] == created["steps"]
    assert backend.get(created["id"], include_input=True)["input"] == "Name a prime number"


def test_content_is_deterministic_and_follows_the_input(clock):
    one = EmulatorBackend(clock=clock).create({"model": MODEL, "input": "Tell me about otters"})
    two = EmulatorBackend(clock=clock).create({"model": MODEL, "input": "Tell me about otters"})
    other = EmulatorBackend(clock=clock).create({"model": MODEL, "input": "Tell me about badgers"})
    assert output_text(one) == output_text(two)
    assert one["usage"] == two["usage"]
    assert output_text(one) != output_text(other)
    assert "otters" in output_text(one) and "badgers" in output_text(other)


def test_chaining_refers_to_earlier_turns_and_caches_them(backend):
    first = backend.create({"model": MODEL, "input": "What is a monad?"})
    second = backend.create(
        {
            "model": MODEL,
            "input": "Give an example in Python",
            "previous_interaction_id": first["id"],
        }
    )
    third = backend.create(
        {"model": MODEL, "input": "And in Haskell?", "previous_interaction_id": second["id"]}
    )
    assert 'turn 2 of our conversation; you first asked about "What is a monad?"' in output_text(
        second
    )
    assert "turn 3" in output_text(third)
    assert '"What is a monad?"' in output_text(third)
    assert 'most recently about "Give an example in Python"' in output_text(third)
    assert first["usage"]["total_cached_tokens"] == 0
    # everything said before is context, and counted as cached
    cached = first["usage"]["total_input_tokens"] + first["usage"]["total_output_tokens"]
    assert second["usage"]["total_cached_tokens"] == cached
    assert third["usage"]["total_cached_tokens"] > second["usage"]["total_cached_tokens"]
    # the same prompt without the history answers differently
    alone = backend.create({"model": MODEL, "input": "Give an example in Python"})
    assert output_text(alone) != output_text(second)


def test_unknown_previous_interaction_is_not_found(backend):
    with pytest.raises(EmulatorError) as err:
        backend.create({"model": MODEL, "input": "hi", "previous_interaction_id": "int_nope"})
    assert err.value.status_code == 404 and err.value.status == "NOT_FOUND"
    assert "previous_interaction_id" in err.value.message
    assert backend.stats()["creates"] == 0


def test_system_instruction_shows_in_the_answer(backend):
    created = backend.create(
        {"model": MODEL, "input": "Describe rain", "system_instruction": "Answer like a pirate"}
    )
    assert 'Following your instruction ("Answer like a pirate")' in output_text(created)
    assert created["system_instruction"] == "Answer like a pirate"


def test_usage_is_consistent_with_the_text(backend):
    prompt, instruction = "Compare rivers and canals for freight", "Be concise"
    created = backend.create({"model": MODEL, "input": prompt, "system_instruction": instruction})
    usage = created["usage"]
    text = output_text(created)
    summary = "".join(s["summary"][0]["text"] for s in created["steps"] if s["type"] == "thought")
    assert usage["total_output_tokens"] == tokens(text) == math.ceil(len(text) / 4)
    assert usage["total_input_tokens"] == tokens(prompt) + tokens(instruction)
    assert usage["total_thought_tokens"] >= tokens(summary) > 0
    assert usage["total_tokens"] == (
        usage["total_input_tokens"]
        + usage["total_output_tokens"]
        + usage["total_thought_tokens"]
        + usage["total_tool_use_tokens"]
    )
    assert (
        sum(m["tokens"] for m in usage["input_tokens_by_modality"]) == usage["total_input_tokens"]
    )
    assert (
        sum(m["tokens"] for m in usage["output_tokens_by_modality"]) == usage["total_output_tokens"]
    )


def test_media_input_is_counted_by_modality(backend):
    created = backend.create(
        {
            "model": MODEL,
            "input": [
                {
                    "type": "user_input",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image", "uri": "gs://bucket/cat.png", "mime_type": "image/png"},
                    ],
                }
            ],
        }
    )
    by_modality = {m["modality"]: m["tokens"] for m in created["usage"]["input_tokens_by_modality"]}
    assert by_modality == {"text": tokens("What is in this picture?"), "image": 258}
    assert "attached image" in output_text(created)


def test_research_usage_counts_searches_and_tool_use(backend, clock):
    created = backend.create({"agent": AGENT, "input": "Urban beekeeping", "background": True})
    final = run_to_end(backend, clock, created["id"])
    usage = final["usage"]
    calls = [s for s in final["steps"] if s["type"] == "google_search_call"]
    results = [s for s in final["steps"] if s["type"] == "google_search_result"]
    assert calls and len(calls) == len(results)
    assert usage["grounding_tool_count"] == [{"type": "google_search", "count": len(calls)}]
    expected_tool_use = sum(tokens(" ".join(c["arguments"]["queries"])) for c in calls) + sum(
        tokens(r["result"][0]["search_suggestions"]) for r in results
    )
    assert usage["total_tool_use_tokens"] == expected_tool_use > 0
    assert usage["tool_use_tokens_by_modality"] == [
        {"modality": "text", "tokens": expected_tool_use}
    ]
    assert usage["total_tokens"] == (
        usage["total_input_tokens"]
        + usage["total_output_tokens"]
        + usage["total_thought_tokens"]
        + expected_tool_use
    )


def test_max_output_tokens_ends_incomplete_with_truncated_output(backend):
    full = backend.create({"model": MODEL, "input": "Tell me about glaciers"})
    short = backend.create(
        {
            "model": MODEL,
            "input": "Tell me about glaciers",
            "generation_config": {"max_output_tokens": 20},
        }
    )
    assert full["status"] == "completed"
    assert short["status"] == "incomplete"
    assert output_text(short) == output_text(full)[:80]
    assert short["usage"]["total_output_tokens"] == 20


def test_create_validation_answers_400(backend):
    cases = [
        {"input": "neither"},
        {"model": MODEL, "agent": AGENT, "input": "both"},
        {"model": MODEL, "input": "x", "bogus_field": 1},
        {"model": MODEL, "input": "x", "agent_config": {"type": "deep-research"}},
        {"agent": AGENT, "input": "x", "generation_config": {}, "background": True},
        {"agent": AGENT, "input": "research without background"},
        {"model": MODEL},
        {"model": MODEL, "input": 42},
        {"model": MODEL, "input": "x", "labels": {"job": 1}},
        {"model": MODEL, "input": "x", "background": "yes"},
        {"model": MODEL, "input": "x", "background": True, "store": False},
        {"model": MODEL, "input": [{"type": "hologram", "uri": "x"}]},
        None,
    ]
    for body in cases:
        with pytest.raises(EmulatorError) as err:
            backend.create(body)
        assert err.value.status_code == 400, body
        assert err.value.body()["error"]["status"] == "INVALID_ARGUMENT"
    assert backend.stats()["requests"]["create"] == len(cases)
    assert backend.stats()["creates"] == 0
