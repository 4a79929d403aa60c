"""Per-account login throttling: growing delays after repeated failures, never a lock-out."""

from __future__ import annotations

from tessera.shared.domain.errors import RateLimited

FREE_FAILURES = 5
WINDOW_SECONDS = 15 * 60
MAX_DELAY_SECONDS = 15 * 60


class TooManyFailures(RateLimited):
    default_message = "Too many failed sign-ins for this account. Try again later."


def delay_after(failures: int) -> int:
    """No wait for the first few failures, then 1 s, 2 s, 4 s ... up to 15 min."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS))
