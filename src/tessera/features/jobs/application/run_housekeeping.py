from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

logger = logging.getLogger("tessera.jobs")


class Chore(Protocol):
    """A periodic clean-up of some feature (finished jobs, spent one-time links ...).
    Idempotent; commits its own work; returns how many things it removed."""

    async def execute(self) -> int: ...


class RunHousekeeping:
    """Runs every feature's chores on the schedule; one failing chore does not stop the
    others (each is logged, and the next run tries again)."""

    def __init__(self, chores: Sequence[Chore]) -> None:
        self._chores = chores

    async def execute(self) -> dict[str, int]:
        done: dict[str, int] = {}
        for chore in self._chores:
            name = type(chore).__name__
            try:
                done[name] = await chore.execute()
            except Exception:  # logged; the next run tries again
                logger.exception("housekeeping chore failed", extra={"chore": name})
        logger.info("housekeeping done", extra=done)
        return done
