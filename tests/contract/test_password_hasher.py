"""The `PasswordHasher` contract, run against its adapter (argon2-cffi) and the unit tests'
fake (`FakePasswordHasher`), so the fake cannot drift; then what only argon2 promises.

Most argon2 tests use the OWASP minimum (m=19 MiB, t=2, p=1) to stay fast; one uses the
default profile the service runs with.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypedDict

import argon2
import pytest
from prometheus_client import REGISTRY

from tessera.features.identity.adapters import argon2_hasher
from tessera.features.identity.adapters.argon2_hasher import (
    NICENESS,
    Argon2PasswordHasher,
    HashPriority,
)
from tessera.features.identity.application.ports import PasswordHasher
from tests.fakes.identity import FakePasswordHasher


class Parameters(TypedDict):
    time_cost: int
    memory_cost: int
    parallelism: int


OWASP_MINIMUM: Parameters = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["argon2", "fake"])
def hasher(request: pytest.FixtureRequest) -> PasswordHasher:
    if request.param == "fake":
        return FakePasswordHasher()
    return Argon2PasswordHasher(**OWASP_MINIMUM)


@pytest.fixture
def argon2_only() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(**OWASP_MINIMUM)


class RecordingHasher(Argon2PasswordHasher):
    """Records when each verification ran, in the worker thread itself."""

    HOLD_SECONDS = 0.15  # long enough that overlap, or its absence, shows on a loaded machine

    def __init__(self, *, max_concurrency: int, priority: HashPriority = "idle") -> None:
        # The idle class alone: a hedge would add a second copy of a slow run.
        super().__init__(**OWASP_MINIMUM, max_concurrency=max_concurrency, priority=priority)
        self.started = threading.Event()
        self.runs: list[tuple[float, float]] = []

    def _verify_blocking(self, password_hash: str, password: str) -> bool:
        start = time.perf_counter()
        self.started.set()
        try:
            time.sleep(self.HOLD_SECONDS)
            return super()._verify_blocking(password_hash, password)
        finally:
            self.runs.append((start, time.perf_counter()))


def most_at_once(runs: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in runs] + [(end, -1) for _, end in runs])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def mean_seconds(action: Callable[[], Awaitable[object]], runs: int = 3) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        await action()
    return (time.perf_counter() - start) / runs


async def test_hash_is_argon2id_with_the_configured_parameters(
    argon2_only: Argon2PasswordHasher,
) -> None:
    password_hash = await argon2_only.hash(PASSWORD)
    assert password_hash.startswith(OWASP_PREFIX)
    assert PASSWORD not in password_hash


async def test_the_same_password_hashes_differently_each_time(hasher: PasswordHasher) -> None:
    assert await hasher.hash(PASSWORD) != await hasher.hash(PASSWORD)


async def test_verify_accepts_the_password_and_refuses_another(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash, PASSWORD) is True
    assert await hasher.verify(password_hash, "correct horse battery stapler") is False
    assert await hasher.verify(password_hash, "") is False


async def test_unicode_and_spaces_are_verified_exactly(hasher: PasswordHasher) -> None:
    password = " pâss phrase 🔐 我的 "
    password_hash = await hasher.hash(password)
    assert await hasher.verify(password_hash, password) is True
    assert await hasher.verify(password_hash, password.rstrip()) is False
    assert await hasher.verify(password_hash, password.strip()) is False
    decomposed = password.replace("â", "a\u0302")  # same look, other code points
    assert await hasher.verify(password_hash, decomposed) is False


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$bm90IGEgc2FsdA",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    ],
)
async def test_a_malformed_hash_does_not_verify(hasher: PasswordHasher, malformed: str) -> None:
    assert await hasher.verify(malformed, PASSWORD) is False
    assert hasher.needs_rehash(malformed) is True


async def test_a_truncated_hash_does_not_verify(hasher: PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert await hasher.verify(password_hash[:-4], PASSWORD) is False


async def test_own_hashes_need_no_rehash(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash(await hasher.hash(PASSWORD)) is False


async def test_a_hash_made_with_other_parameters_verifies_and_needs_rehash(
    argon2_only: Argon2PasswordHasher,
) -> None:
    hasher = argon2_only
    stronger = Argon2PasswordHasher(time_cost=3, memory_cost=19456, parallelism=1)
    legacy = argon2.PasswordHasher(
        time_cost=2, memory_cost=19456, parallelism=1, type=argon2.Type.I
    )
    for password_hash in (await stronger.hash(PASSWORD), legacy.hash(PASSWORD)):
        assert await hasher.verify(password_hash, PASSWORD) is True  # so login can upgrade it
        assert hasher.needs_rehash(password_hash) is True


async def test_the_default_profile_is_argon2_cffis() -> None:
    hasher = Argon2PasswordHasher()
    password_hash = await hasher.hash(PASSWORD)
    assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await hasher.verify(password_hash, PASSWORD) is True
    assert hasher.needs_rehash(password_hash) is False
    assert hasher.needs_rehash(await Argon2PasswordHasher(**OWASP_MINIMUM).hash(PASSWORD))


async def test_verify_dummy_verifies_a_hash_made_with_the_current_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """So it costs what a real verification costs: no timing oracle for unknown emails.
    At normal priority: hedged, a run starved by a busy machine is verified once more at
    niceness 5 (this once failed CI with three verifications for two calls)."""
    hasher = Argon2PasswordHasher(**OWASP_MINIMUM, priority="normal")
    verified: list[str] = []
    verify = argon2.PasswordHasher.verify

    def recorded(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(hash if isinstance(hash, str) else hash.decode())
        return verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", recorded)
    await hasher.verify_dummy("a wrong password")
    await hasher.verify_dummy("")
    assert len(verified) == 2
    assert all(digest.startswith(OWASP_PREFIX) for digest in verified), verified


async def test_verify_dummy_accepts_any_password_without_raising(hasher: PasswordHasher) -> None:
    for password in ("", PASSWORD, "🔐" * 128):
        await hasher.verify_dummy(password)


async def test_at_most_max_concurrency_verifications_run_at_once() -> None:
    hasher = RecordingHasher(max_concurrency=1)
    password_hash = await hasher.hash(PASSWORD)
    results = await asyncio.gather(*(hasher.verify(password_hash, PASSWORD) for _ in range(4)))
    assert results == [True] * 4
    assert len(hasher.runs) == 4
    assert most_at_once(hasher.runs) == 1


async def test_the_recorder_sees_overlap_when_concurrency_allows_it() -> None:
    hasher = RecordingHasher(max_concurrency=4)
    password_hash = await hasher.hash(PASSWORD)
    await asyncio.gather(*(hasher.verify(password_hash, PASSWORD) for _ in range(4)))
    assert most_at_once(hasher.runs) > 1


async def test_a_cancelled_verification_keeps_its_slot_until_its_thread_ends() -> None:
    hasher = RecordingHasher(max_concurrency=1)
    password_hash = await hasher.hash(PASSWORD)
    abandoned = asyncio.create_task(hasher.verify(password_hash, PASSWORD))
    assert await asyncio.to_thread(hasher.started.wait, 5)  # its thread is hashing
    abandoned.cancel()
    assert await hasher.verify(password_hash, PASSWORD) is True
    assert abandoned.cancelled()
    assert len(hasher.runs) == 2
    assert most_at_once(hasher.runs) == 1


async def test_the_event_loop_runs_other_work_while_a_password_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hash waits, in its thread, until the loop has run something else: hashing on
    the loop itself would never see that and fail after the wait."""
    hasher = Argon2PasswordHasher(**OWASP_MINIMUM, max_concurrency=1)
    hashing, loop_ran = threading.Event(), threading.Event()
    loop_thread = threading.get_ident()
    threads: list[int] = []
    hash_password = argon2.PasswordHasher.hash

    def waiting(
        self: argon2.PasswordHasher, password: str | bytes, *, salt: bytes | None = None
    ) -> str:
        threads.append(threading.get_ident())
        hashing.set()
        assert loop_ran.wait(10), "the event loop ran nothing while the password hashed"
        return hash_password(self, password, salt=salt)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", waiting)
    pending = asyncio.ensure_future(hasher.hash(PASSWORD))
    assert await asyncio.to_thread(hashing.wait, 10)
    loop_ran.set()  # this line runs on the loop while the hash is under way
    assert (await pending).startswith(OWASP_PREFIX)
    assert threads
    assert loop_thread not in threads


def test_one_hasher_serves_successive_event_loops() -> None:
    hasher = Argon2PasswordHasher(**OWASP_MINIMUM, max_concurrency=1)
    password_hash = asyncio.run(hasher.hash(PASSWORD))

    async def contended() -> list[bool]:
        return await asyncio.gather(*(hasher.verify(password_hash, PASSWORD) for _ in range(2)))

    assert asyncio.run(contended()) == [True, True]
    assert asyncio.run(contended()) == [True, True]


@pytest.mark.parametrize(
    "options",
    [
        {"time_cost": 1, "memory_cost": 65536, "parallelism": 4},
        {"time_cost": 3, "memory_cost": 19455, "parallelism": 4},
        {"time_cost": 3, "memory_cost": 65536, "parallelism": 0},
        {"max_concurrency": 0},
    ],
)
def test_parameters_below_the_owasp_minimum_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"minimum|at least"):
        Argon2PasswordHasher(**options)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness is per thread on Linux")
@pytest.mark.parametrize(
    ("priority", "policy"),
    [
        ("hedged", os.SCHED_IDLE),
        ("idle", os.SCHED_IDLE),
        ("low", os.SCHED_OTHER),
        ("normal", os.SCHED_OTHER),
    ],
)
async def test_hashing_threads_run_at_their_priority_and_the_event_loop_at_its_own(
    priority: HashPriority, policy: int
) -> None:
    class NicenessHasher(Argon2PasswordHasher):
        niceness: ClassVar[list[int]] = []
        policies: ClassVar[list[int]] = []

        def _verify_blocking(self, password_hash: str, password: str) -> bool:
            self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            self.policies.append(os.sched_getscheduler(0))
            return super()._verify_blocking(password_hash, password)

    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if own != 0:
        pytest.skip(f"the test process already runs at niceness {own}")
    hasher = NicenessHasher(**OWASP_MINIMUM, priority=priority)
    assert await hasher.verify(await hasher.hash(PASSWORD), PASSWORD)
    assert hasher.niceness == [NICENESS[priority]]
    assert hasher.policies == [policy]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the event loop's thread
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the loop's


class StarvedHasher(Argon2PasswordHasher):
    """Hedged, with every idle-class copy of a verification starved (held until `feed`):
    what a busy neighbour at normal priority does to the idle class. Records where each
    verification ran and how many hedges ran at once."""

    def __init__(self, *, max_concurrency: int = 1) -> None:
        super().__init__(**OWASP_MINIMUM, max_concurrency=max_concurrency, priority="hedged")
        self.fed = threading.Event()
        self.hedging = threading.Event()
        self.idle_finished = threading.Event()
        self.finished_in: list[str] = []
        self.hedge_runs: list[tuple[float, float]] = []

    def feed(self) -> None:
        self.fed.set()

    def _verify_blocking(self, password_hash: str, password: str) -> bool:
        thread = threading.current_thread().name
        idle_copy = thread.startswith("argon2-hedged")
        start = time.perf_counter()
        if idle_copy:
            self.fed.wait(30)
        else:
            self.hedging.set()
            time.sleep(0.05)  # long enough to overlap another hedge, if the bound let it
        try:
            return super()._verify_blocking(password_hash, password)
        finally:
            if not idle_copy:
                self.hedge_runs.append((start, time.perf_counter()))
            self.finished_in.append(thread.split("_")[0])
            if idle_copy:
                self.idle_finished.set()


def hedges() -> float:
    return REGISTRY.get_sample_value("password_hash_hedges_total") or 0.0


async def test_a_hash_that_finishes_in_time_is_not_hedged() -> None:
    hasher = StarvedHasher()
    hasher.feed()  # nothing starves
    password_hash = await hasher.hash(PASSWORD)
    before = hedges()
    assert await hasher.verify(password_hash, PASSWORD) is True
    assert hasher.finished_in == ["argon2-hedged"]
    assert hedges() == before


async def test_a_starved_hash_is_hedged_at_niceness_5_and_the_hedge_answers() -> None:
    hasher = StarvedHasher()
    password_hash = await hasher.hash(PASSWORD)  # times the quiet run: the hedge waits 3x that
    before = hedges()
    try:
        assert await asyncio.wait_for(hasher.verify(password_hash, PASSWORD), 10) is True
        assert await hasher.verify(password_hash, "a wrong password") is False
    finally:
        hasher.feed()
    assert hasher.finished_in == ["argon2-low", "argon2-low"]
    assert hedges() == before + 2


async def test_hedges_are_bounded_like_the_first_copies() -> None:
    hasher = StarvedHasher(max_concurrency=1)
    password_hash = await hasher.hash(PASSWORD)
    before = hedges()
    try:
        verifications = (hasher.verify(password_hash, PASSWORD) for _ in range(4))
        results = await asyncio.wait_for(asyncio.gather(*verifications), 20)
        finished = list(hasher.finished_in)
    finally:
        hasher.feed()
    assert results == [True] * 4
    # The starved first copy keeps its thread; the other copies queued behind it never ran.
    assert finished == ["argon2-low"] * 4
    assert most_at_once(hasher.hedge_runs) == 1
    assert hedges() == before + 4


async def test_a_cancelled_hedged_verification_keeps_its_hedge_slot_until_it_ends() -> None:
    hasher = StarvedHasher(max_concurrency=1)
    password_hash = await hasher.hash(PASSWORD)
    try:
        abandoned = asyncio.create_task(hasher.verify(password_hash, PASSWORD))
        assert await asyncio.to_thread(hasher.hedging.wait, 10)
        abandoned.cancel()
        assert await asyncio.wait_for(hasher.verify(password_hash, PASSWORD), 10) is True
    finally:
        hasher.feed()
    assert abandoned.cancelled()
    assert hasher.finished_in[:2] == ["argon2-low", "argon2-low"]
    assert most_at_once(hasher.hedge_runs) == 1


async def test_after_a_hedge_wins_hashes_are_hedged_at_once_until_an_idle_copy_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = StarvedHasher(max_concurrency=1)
    password_hash = await hasher.hash(PASSWORD)
    try:
        assert await asyncio.wait_for(hasher.verify(password_hash, PASSWORD), 10)  # hedged
        # From now on a starved copy would wait minutes for its hedge, unless hedged at once.
        monkeypatch.setattr(argon2_hasher, "HEDGE_FACTOR", 10_000.0)
        assert await asyncio.wait_for(hasher.verify(password_hash, PASSWORD), 5)
        assert hasher.finished_in == ["argon2-low", "argon2-low"]
    finally:
        hasher.feed()  # the neighbour leaves: the starved copy finishes
    assert await asyncio.to_thread(hasher.idle_finished.wait, 5)
    await asyncio.sleep(0.05)  # its thread clears the starved state after the recorder
    before = hedges()
    assert await asyncio.wait_for(hasher.verify(password_hash, PASSWORD), 5)
    assert hasher.finished_in[-1] == "argon2-hedged"  # the idle-class copy answered
    assert hedges() == before
