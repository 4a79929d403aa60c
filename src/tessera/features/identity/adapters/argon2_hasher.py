"""`PasswordHasher` with argon2-cffi (argon2id)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, ParamSpec, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY
from prometheus_client import Counter

P = ParamSpec("P")
T = TypeVar("T")

# argon2-cffi's default profile: t=3, m=64 MiB, p=4.
DEFAULT_TIME_COST = RFC_9106_LOW_MEMORY.time_cost
DEFAULT_MEMORY_COST = RFC_9106_LOW_MEMORY.memory_cost  # KiB
DEFAULT_PARALLELISM = RFC_9106_LOW_MEMORY.parallelism

HashPriority = Literal["hedged", "idle", "low", "normal"]
"""The CPU priority of the hashing threads (see `_prioritise` and decision record 0003):
- `hedged` (the default): each hash starts in the idle class and, when it has not finished
  within `HEDGE_FACTOR` times the fastest hash seen (something at normal priority keeps the
  cores busy), the same hash starts again at `low`, and the first to finish answers; once a
  hedge has won, the next hashes are hedged at once, until an idle-class copy finishes;
- `idle`: the idle scheduling class alone, only what no normal thread wants (CFS weight 3):
  other requests keep their tail, but a busy neighbour starves sign-in;
- `low`: the normal class at niceness 5 (weight 335 against 1024 for the event loop), so a
  busy neighbour slows logins down but cannot starve them, at a cost in other requests' p99;
- `normal`: as every other thread."""
NICENESS: dict[HashPriority, int] = {"hedged": 19, "idle": 19, "low": 5, "normal": 0}

HEDGE_FACTOR = 4.0
"""A hash still running after this many times the fastest one is starved, not just slow: a
login storm on a light server stretches a hash by 2-3x, a busy neighbour at normal priority
without end. Paid once per starvation: after a hedge wins, hashes are hedged at once."""
FIRST_HEDGE_AFTER_S = 1.0
"""The wait before the first hedge, before any hash has been timed."""

HEDGES = Counter(
    "password_hash_hedges",
    "Password hashes started again at niceness 5 because the idle-class copy was starved.",
)

# OWASP's floor for argon2id: m=19 MiB, t=2, p=1.
MIN_TIME_COST = 2
MIN_MEMORY_COST = 19 * 1024  # KiB
MIN_PARALLELISM = 1


class Argon2PasswordHasher:
    """argon2id, run in worker threads, at most `max_concurrency` at a time per event loop.

    A verification holds its slot until its thread finishes, even if the caller is cancelled
    (a client that hangs up mid-login), so the bound holds under a storm of abandoned logins.

    The threads run at `priority` (Linux; by default hedged, see `HashPriority`): libargon2
    computes the p=4 lanes in threads of its own (one hash keeps about 1.7 cores busy), so at
    full priority a login storm would take the cores the event loop needs to answer
    everything else; in the idle class alone, any busy neighbour starves logins entirely.
    Hedged, a starved hash runs again at niceness 5 in a pool of its own, `max_concurrency`
    at a time too; a starved idle copy keeps its thread (and its memory) until it finishes.
    """

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST,
        parallelism: int = DEFAULT_PARALLELISM,
        max_concurrency: int | None = None,
        priority: HashPriority = "hedged",
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
        self._threads = _threads(concurrency, priority)
        # The hedges have threads (and so a bound) of their own: a starved idle-class copy
        # keeps its thread until it finishes, whenever the neighbour lets it.
        self._hedges = _threads(concurrency, "low") if priority == "hedged" else None
        self._fastest_s: float | None = None
        self._starved = False
        # A Semaphore binds to the loop it first waits on, so each loop gets its own.
        self._gates: _Gates = weakref.WeakKeyDictionary()
        self._hedge_gates: _Gates = weakref.WeakKeyDictionary()
        self._racing: set[asyncio.Future[Any]] = set()
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
        call = functools.partial(self._timed, work, *args, **kwargs)
        gate = self._gate(self._gates)
        await gate.acquire()
        try:
            race = asyncio.ensure_future(self._race(call, gate))
        except BaseException:
            gate.release()
            raise
        self._racing.add(race)
        race.add_done_callback(self._finished)
        # Shielded: cancelling the caller must not free the slot while the thread still runs.
        return await asyncio.shield(race)

    async def _race(self, call: Callable[[], T], gate: asyncio.Semaphore) -> T:
        """`call` in the hashing threads, holding a slot of `gate`; when hedged and the idle
        copy is starved, it hands that slot over for one of the hedges' own and runs `call`
        again at niceness 5: the first copy to finish answers."""
        loop = asyncio.get_running_loop()
        held = gate
        try:
            if self._hedges is None:
                return await loop.run_in_executor(self._threads, call)
            first = loop.run_in_executor(self._threads, self._idle_copy, call)
            await asyncio.wait({first}, timeout=self._hedge_after())
            if first.done():
                return first.result()
            hedge_gate = self._gate(self._hedge_gates)
            slot = asyncio.ensure_future(hedge_gate.acquire())
            either: set[asyncio.Future[Any]] = {first, slot}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if first.done():
                if not slot.cancel():
                    hedge_gate.release()
                return first.result()
            gate.release()
            held = hedge_gate
            HEDGES.inc()
            second = loop.run_in_executor(self._hedges, call)
            await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
            if first.done():
                second.cancel()
                return first.result()
            # Starved: until an idle-class copy finishes again, the next hashes are hedged at
            # once. This copy, if not started yet, never starts; if running, it finishes in
            # its own time (a C call cannot be interrupted), in its own thread, ignored.
            self._starved = True
            first.cancel()
            return second.result()
        finally:
            held.release()

    def _finished(self, race: asyncio.Future[Any]) -> None:
        self._racing.discard(race)
        if not race.cancelled():
            race.exception()  # retrieved, so an abandoned hash's error is not logged as unhandled

    def _timed(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work`, remembering the fastest run: the quiet duration the hedge waits a multiple of."""
        started = time.perf_counter()
        result = work(*args, **kwargs)
        took = time.perf_counter() - started
        if self._fastest_s is None or took < self._fastest_s:
            self._fastest_s = took  # a race between threads only ever keeps a real duration
        return result

    def _idle_copy(self, call: Callable[[], T]) -> T:
        result = call()
        self._starved = False  # the idle class gets a core again
        return result

    def _hedge_after(self) -> float:
        if self._starved:
            return 0.0
        fastest = self._fastest_s
        return FIRST_HEDGE_AFTER_S if fastest is None else HEDGE_FACTOR * fastest

    def _gate(self, gates: _Gates) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = gates.get(loop)
        if gate is None:
            gate = gates[loop] = asyncio.Semaphore(self._max_concurrency)
        return gate


_Gates = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]


def _threads(count: int, priority: HashPriority) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=count,
        thread_name_prefix=f"argon2-{priority}",
        initializer=functools.partial(_prioritise, priority),
    )


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
    if priority in ("idle", "hedged"):
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _spare_cores() -> int:
    """One hash fewer than cores: a login storm leaves a core for every other request."""
    return max(1, (os.cpu_count() or 2) - 1)
