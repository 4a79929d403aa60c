"""One event loop per object: what keeps asyncio state is refused on any other loop.

asyncio's futures, locks and events belong to one event loop and are not thread-safe. A
future of loop B completed by a task of loop A (a lock's waiter, a batched command's reply,
a subscriber's wake-up) is scheduled with a plain `call_soon` from A's thread: B, asleep in
its selector, is never woken, and the task awaiting it hangs for good with nothing left to
run. asyncio itself refuses a foreign loop only once a lock has been contended on its own
(its first waiter binds it), so the first cross-loop use is exactly the one that can hang,
and only when two loops happen to meet: rarely, and more often under load.

Tessera runs one event loop per process, and whatever the container makes lives on it. An
object that keeps asyncio state across calls holds a `OneLoop` and checks it where it is
awaited: the first loop that uses the object owns it, and any other gets `WrongEventLoop`
at once, on every call, naming the object. A mistake is then an error on its first try
instead of a hang on some rare one. In tests the app runs on the test client's thread, not
the test's: `tests.e2e.harness.on_app_loop` runs code there.
"""

from __future__ import annotations

import asyncio
import threading

_binding = threading.Lock()


class WrongEventLoop(RuntimeError):
    """An object bound to one event loop was used from another."""


class OneLoop:
    """The event loop an object belongs to: the first one that checks."""

    __slots__ = ("_loop", "_owner")

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._loop: asyncio.AbstractEventLoop | None = None

    def check(self) -> asyncio.AbstractEventLoop:
        """The running loop, if it is the owner's (the first call binds it); otherwise
        raises `WrongEventLoop`. Call it before touching loop-bound state."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        return loop

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        with _binding:  # two threads' first calls at once: exactly one loop wins
            if self._loop is None:
                self._loop = loop
            if self._loop is loop:
                return
        raise WrongEventLoop(
            f"{self._owner} belongs to the event loop it was first used on, not to this one "
            f"(thread {threading.current_thread().name!r}): run the call on the owner's loop"
        )


class OneLoopLock(asyncio.Lock):
    """An `asyncio.Lock` bound to one loop from its first use, for dishka's containers
    (`lock_factory`): every dependency of the app is reached through their lock, so a
    container used from a second loop is refused on the first call instead of losing a
    waiter's wake-up when the two loops contend."""

    def __init__(self) -> None:
        super().__init__()
        self._one_loop = OneLoop("The dependency container")

    async def __aenter__(self) -> None:
        self._one_loop.check()
        await self.acquire()


__all__ = ["OneLoop", "OneLoopLock", "WrongEventLoop"]
