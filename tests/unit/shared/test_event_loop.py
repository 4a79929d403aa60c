"""`OneLoop` and `OneLoopLock`: an object that keeps asyncio state belongs to the first
event loop that uses it, and another loop is refused at once instead of hanging."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tessera.shared.application.event_loop import OneLoop, OneLoopLock, WrongEventLoop


async def in_another_loop(work: Callable[[], Awaitable[Any]]) -> Any:
    """`work()` run to completion on a new event loop in another thread."""

    async def run() -> Any:
        return await work()

    return await asyncio.to_thread(asyncio.run, run())


async def test_the_first_loop_owns_the_object_and_another_is_refused_naming_it() -> None:
    loop = OneLoop("The thing")
    assert loop.check() is asyncio.get_running_loop()
    assert loop.check() is asyncio.get_running_loop()

    async def check() -> Any:
        return loop.check()

    with pytest.raises(WrongEventLoop, match="The thing belongs to the event loop"):
        await in_another_loop(check)
    assert loop.check() is asyncio.get_running_loop(), "the owner is unchanged"


def first_uses_at_once(threads: int) -> list[str]:
    """`threads` new loops check one new `OneLoop` at the same moment; what each got."""
    loop, start, outcomes = OneLoop("The thing"), threading.Barrier(threads), list[str]()

    async def check() -> None:
        loop.check()

    def first_use() -> None:
        start.wait()
        try:
            asyncio.run(check())
            outcomes.append("owner")
        except WrongEventLoop:
            outcomes.append("refused")

    running = [threading.Thread(target=first_use) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return sorted(outcomes)


def test_loops_checking_first_at_once_leave_exactly_one_owner() -> None:
    for _ in range(20):
        assert first_uses_at_once(4) == ["owner", "refused", "refused", "refused"]


async def test_the_lock_held_on_one_loop_refuses_a_waiter_of_another_at_once() -> None:
    """The lost wake-up of issue 16: a plain asyncio.Lock held here and awaited from
    another loop lets that loop sleep for good once it is released."""
    lock = OneLoopLock()
    async with lock:
        # the other loop asks while this one holds the lock: refused, not parked
        async def take() -> None:
            async with lock:
                pass

        with pytest.raises(WrongEventLoop, match="The dependency container"):
            await asyncio.wait_for(in_another_loop(take), 5)
    async with lock:  # still a working lock for its own loop
        pass


async def test_the_lock_excludes_tasks_of_its_own_loop() -> None:
    lock, inside, most = OneLoopLock(), 0, 0

    async def critical() -> None:
        nonlocal inside, most
        async with lock:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(critical() for _ in range(10)))
    assert most == 1
