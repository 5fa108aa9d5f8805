"""Helpers for tests that follow jobs by stream on the emulator's fake clock."""

from __future__ import annotations

import json
import threading

from waiting import wait_for


class ClockDriver:
    """Advances the fake clock in small steps from a thread, as time would pass, until stopped."""

    def __init__(self, clock, step: float = 5.0, every: float = 0.01) -> None:
        self.clock, self.step, self.every = clock, step, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.clock.advance(self.step)

    def __enter__(self) -> ClockDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def emulator_events(backend, interaction_id: str) -> list[str]:
    """The interaction's events as the emulator sends them (compact JSON)."""
    events = backend.events(interaction_id, 0).events
    return [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events]


def wait_until(condition, timeout: float = 30.0, what: str = "the condition"):
    """tests/waiting.py's wait, with the longer deadline these stream tests need."""
    return wait_for(condition, timeout=timeout, what=what, interval=0.02)
