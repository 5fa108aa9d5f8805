"""Fixtures for following jobs (trackers stopped at the end of each test)."""

from __future__ import annotations

import pytest

from jobs.service.track import Tracker


@pytest.fixture
def make_tracker():
    made = []

    def make(service, **kwargs) -> Tracker:
        tracker = Tracker(service, **{"mode": "stream", **kwargs})
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.stop(timeout=5)
