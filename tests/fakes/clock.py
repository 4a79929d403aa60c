"""`Clock` for tests: a fixed moment that the test moves forward itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tessera.shared.application.ports import Clock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Stands still until `advance` (or `set`); never goes back unless told to."""

    def __init__(self, now: datetime = START) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        self._now = moment

    def monotonic(self) -> float:
        """Seconds that move with `now`, for adapters that take a monotonic clock."""
        return self._now.timestamp()

    def epoch_ms(self) -> float:
        """The same moment in epoch milliseconds, for adapters timed that way."""
        return self._now.timestamp() * 1000


def _check(clock: FakeClock) -> Clock:
    return clock
