"""The one real-time wait of the test suite.

Tests drive time with a FakeClock wherever they can. Where real seconds must pass (another process,
a socket, a live stream), they wait on a condition with a deadline, never on a bare sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 5.0,
    what: str = "the condition",
    interval: float = 0.01,
) -> T:
    """Poll `condition` until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
