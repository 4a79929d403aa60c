"""`PasswordHasher` with argon2-cffi (argon2id)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, ParamSpec, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

P = ParamSpec("P")
T = TypeVar("T")

# argon2-cffi's default profile: t=3, m=64 MiB, p=4.
DEFAULT_TIME_COST = RFC_9106_LOW_MEMORY.time_cost
DEFAULT_MEMORY_COST = RFC_9106_LOW_MEMORY.memory_cost  # KiB
DEFAULT_PARALLELISM = RFC_9106_LOW_MEMORY.parallelism

HashPriority = Literal["idle", "low", "normal"]
"""The CPU priority of the hashing threads (see `_prioritise` and decision record 0003):
- `idle` (the default): the idle scheduling class, only what no normal thread wants (CFS
  weight 3): other requests keep their tail, but a busy neighbour starves sign-in;
- `low`: the normal class at niceness 5 (weight 335 against 1024 for the event loop), so a
  busy neighbour slows logins down but cannot starve them, at a cost in other requests' p99;
- `normal`: as every other thread."""
NICENESS: dict[HashPriority, int] = {"idle": 19, "low": 5, "normal": 0}

# OWASP's floor for argon2id: m=19 MiB, t=2, p=1.
MIN_TIME_COST = 2
MIN_MEMORY_COST = 19 * 1024  # KiB
MIN_PARALLELISM = 1


class Argon2PasswordHasher:
    """argon2id, run in worker threads, at most `max_concurrency` at a time per event loop.

    A verification holds its slot until its thread finishes, even if the caller is cancelled
    (a client that hangs up mid-login), so the bound holds under a storm of abandoned logins.

    The threads run at `priority` (Linux; by default the idle class, see `HashPriority`):
    libargon2 computes the p=4 lanes in threads of its own (one hash keeps about 1.7 cores
    busy), so at full priority a login storm would take the cores the event loop needs to
    answer everything else; in the idle class, any busy neighbour starves logins entirely.
    """

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST,
        parallelism: int = DEFAULT_PARALLELISM,
        max_concurrency: int | None = None,
        priority: HashPriority = "idle",
    ) -> None:
        too_weak = (
            time_cost < MIN_TIME_COST
            or memory_cost < MIN_MEMORY_COST
            or parallelism < MIN_PARALLELISM
        )
        if too_weak:
            raise ValueError(
                "argon2id parameters below the OWASP minimum "
                f"(t>={MIN_TIME_COST}, m>={MIN_MEMORY_COST} KiB, p>={MIN_PARALLELISM}): "
                f"t={time_cost}, m={memory_cost}, p={parallelism}"
            )
        concurrency = max_concurrency if max_concurrency is not None else _spare_cores()
        if concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {concurrency}")
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=RFC_9106_LOW_MEMORY.hash_len,
            salt_len=RFC_9106_LOW_MEMORY.salt_len,
            type=argon2.Type.ID,
        )
        self._max_concurrency = concurrency
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2",
            initializer=functools.partial(_prioritise, priority),
        )  # fmt: skip
        # A Semaphore binds to the loop it first waits on, so each loop gets its own.
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await self._offload(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._offload(self._verify_blocking, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_dummy(self, password: str) -> None:
        if self._dummy_hash is None:
            # Made once with the current parameters, so verifying it costs what a real one does.
            self._dummy_hash = await self.hash(secrets.token_urlsafe(32))
        await self.verify(self._dummy_hash, password)

    def _verify_blocking(self, password_hash: str, password: str) -> bool:
        """The CPU-bound part, run in a worker thread."""
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _offload(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        gate = self._gate()
        await gate.acquire()
        try:
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(self._threads, functools.partial(work, *args, **kwargs))
        except BaseException:
            gate.release()
            raise
        job.add_done_callback(lambda done: _release(gate, done))
        # Shielded: cancelling the caller must not free the slot while the thread still runs.
        return await asyncio.shield(job)

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self._max_concurrency)
        return gate


def _release(gate: asyncio.Semaphore, done: asyncio.Future[Any]) -> None:
    gate.release()
    if not done.cancelled():
        done.exception()  # retrieved, so an abandoned job's error is not logged as unhandled


def _prioritise(priority: HashPriority) -> None:
    """Gives the calling thread `priority` (Linux; elsewhere it keeps its own). `idle` moves
    it to the idle scheduling class (it runs only when no normal thread wants the core, and
    a waking event loop preempts it at once), with niceness 19 as the fallback where the
    class is refused; `low` lowers its niceness to 5 in the normal class. The threads
    libargon2 starts from it inherit both."""
    if priority == "normal":
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS[priority])
    if priority == "idle":
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _spare_cores() -> int:
    """One hash fewer than cores: a login storm leaves a core for every other request."""
    return max(1, (os.cpu_count() or 2) - 1)
