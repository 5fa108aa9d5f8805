"""Retention: the service forgets an interaction after 1 day (free tier) or 55 days (paid), by
emulated age; afterwards get, stream, cancel, delete and a chained create answer 404 NOT_FOUND."""

from __future__ import annotations

import httpx2
import pytest
from google.genai import _interactions as errors

MODEL = "gemini-3-flash-preview"
DAY = 86400


def gone(api, interaction_id: str) -> None:
    for call in (api.get, api.stream, api.cancel, api.delete):
        with pytest.raises(errors.NotFoundError):
            call(interaction_id)


def test_by_default_interactions_live_55_days_as_on_a_paid_key(api, emulator, clock):
    assert emulator.backend.stats()["tier"] == "paid"
    done = api.create(model=MODEL, input="keep this")
    clock.advance(55 * DAY - 1)
    assert api.get(done.id).status == "completed"
    clock.advance(1)
    gone(api, done.id)
    with pytest.raises(errors.NotFoundError):
        api.create(model=MODEL, input="and then?", previous_interaction_id=done.id)
    assert emulator.backend.stats()["interactions"]["expired"] == 1


def test_a_free_tier_key_loses_them_after_a_day(api, emulator, clock):
    assert emulator.backend.configure(tier="free")["retention"] == DAY
    done = api.create(model=MODEL, input="keep this")
    running = api.create(agent="deep-research-preview-04-2026", input="long", background=True)
    clock.advance(DAY - 1)
    assert api.get(done.id).status == "completed"
    clock.advance(1)
    gone(api, done.id)
    gone(api, running.id)


def test_retention_counts_emulated_age(api, emulator, clock):
    emulator.backend.configure(tier="free", speed=600)  # a day is 144 real seconds
    done = api.create(model=MODEL, input="x")
    clock.advance(143.9)
    assert api.get(done.id).status == "completed"
    clock.advance(0.1)
    gone(api, done.id)


def test_the_tier_sets_retention_and_retention_overrides_it(emulator):
    backend = emulator.backend
    assert backend.configure(tier="free", retention=3600)["retention"] == 3600
    assert backend.configure(tier="paid")["retention"] == 55 * DAY  # the tier's again
    assert backend.configure(retention=-1)["retention"] is None  # never forgets
    assert backend.configure()["tier"] == "paid"
    base = emulator.base_url
    reply = httpx2.post(f"{base}/_emulator/config", json={"tier": "enterprise", "speed": 9})
    assert reply.status_code == 400 and "tier must be one of free, paid" in reply.text
    assert httpx2.get(f"{base}/_emulator/config").json()["speed"] == 1.0  # nothing applied
    assert httpx2.post(f"{base}/_emulator/config", json={"tier": "free"}).json()["retention"] == DAY
    backend.reset()
    assert (backend.stats()["tier"], backend.stats()["retention"]) == ("paid", 55 * DAY)
