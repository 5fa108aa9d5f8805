"""The emulator's own time line, on which schedules fire and quotas count.

An interaction's timeline runs `speed` times as fast as the clock (see script.py). Things that are
not one interaction (a trigger's cron schedule, a quota's minute) need a time line of their own
that does the same: emulated time equals the clock at the moment of a reset and then runs `speed`
emulated seconds per real second, so at `--speed 600` a night (8 h) passes in 48 s. A speed change
starts a new segment, so moments already passed keep the emulated time they had.

Only conversions live here: the clock stays the one source of "now".
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta


class EmulatedTime:
    """Piecewise-linear map between real moments and emulated ones (a segment per speed)."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.reset(start, speed)

    def reset(self, start: datetime, speed: float) -> None:
        """Emulated time equals `start` at `start`, then runs at `speed`."""
        self._real: list[datetime] = [start]
        self._emulated: list[datetime] = [start]
        self._speeds: list[float] = [speed]
        self.version = getattr(self, "version", 0) + 1  # changes whenever the map does

    def set_speed(self, now: datetime, speed: float) -> None:
        """From `now` on, emulated time runs at `speed` (the moments before keep theirs)."""
        if now < self._real[-1]:
            now = self._real[-1]  # a clock never goes back; a fake one set back is clamped
        emulated = self.to_emulated(now)
        self.version += 1
        if now == self._real[-1]:  # the same moment: replace the segment that starts there
            self._speeds[-1] = speed
            return
        self._real.append(now)
        self._emulated.append(emulated)
        self._speeds.append(speed)

    def speed_at(self, real: datetime) -> float:
        """The speed in force at a real moment."""
        return self._speeds[max(0, bisect_right(self._real, real) - 1)]

    def to_emulated(self, real: datetime) -> datetime:
        """The emulated moment of a real one."""
        i = max(0, bisect_right(self._real, real) - 1)
        return self._emulated[i] + (real - self._real[i]) * self._speeds[i]

    def to_real(self, emulated: datetime) -> datetime:
        """The real moment at which emulated time reaches `emulated` (exact for moments passed;
        for later ones, assuming the current speed holds)."""
        i = max(0, bisect_right(self._emulated, emulated) - 1)
        return self._real[i] + (emulated - self._emulated[i]) / self._speeds[i]

    def real_seconds(self, emulated_seconds: float, at: datetime) -> float:
        """How many real seconds `emulated_seconds` take from the real moment `at` on."""
        start = self.to_emulated(at)
        end = self.to_real(start + timedelta(seconds=emulated_seconds))
        return max(0.0, (end - at).total_seconds())
