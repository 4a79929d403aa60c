"""`JobStore` and the use cases on it, against SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera.features.jobs.adapters.sql_job_store import SqlJobStore
from tessera.features.jobs.application.relay_outbox import RelayOutbox
from tessera.features.jobs.application.run_job import RunJob
from tessera.features.jobs.domain.job import Job, RetryPolicy
from tessera.features.jobs.domain.routing import JobRoute, JobRouting
from tessera.shared.adapters.database import (
    SqlAlchemyUnitOfWork,
    scoped_session,
    session_factory,
)
from tessera.shared.adapters.outbox import SqlOutbox
from tessera.shared.application.tenant_scope import ScopeState, TenantScope
from tessera.shared.domain.errors import DependencyUnavailable, InvalidInput
from tessera.shared.domain.events import Event

LEASE = timedelta(seconds=60)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROUTING = JobRouting(
    {"email.send": JobRoute("email_queue", RetryPolicy(max_attempts=3, base_delay=10, jitter=0))},
    default=JobRoute("default", RetryPolicy(max_attempts=5, base_delay=10, jitter=0)),
)


class Clock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Job]] = []
        self.down = False

    async def enqueue(self, job: Job, *, queue: str) -> None:
        if self.down:
            raise DependencyUnavailable()
        self.sent.append((queue, job))

    async def depths(self) -> dict[str, int]:
        return {}


class Handler:
    def __init__(self, error: Exception | None = None) -> None:
        self.handled: list[Job] = []
        self.error = error

    async def handle(self, job: Job) -> None:
        self.handled.append(job)
        if self.error is not None:
            raise self.error


class Metrics:
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def observe(self, job_type: str, outcome: str, seconds: float) -> None:
        self.outcomes.append(outcome)


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


async def record(engine: AsyncEngine, *events: Event) -> None:
    async with AsyncSession(engine) as session:
        for event in events:
            SqlOutbox(session).record(event)
        await SqlAlchemyUnitOfWork(session).commit()


def email_event(at: datetime = T0) -> Event:
    return Event("email.send", {"template": "welcome_email", "to": "a@b.c"}, occurred_at=at)


async def relay(engine: AsyncEngine, queue: RecordingQueue, clock: Clock, **kw: object) -> int:
    async with AsyncSession(engine) as session:
        use_case = RelayOutbox(
            SqlJobStore(session), SqlAlchemyUnitOfWork(session), queue, ROUTING, clock, lease=LEASE
        )
        return await use_case.execute(**kw)  # type: ignore[arg-type]


async def run(engine: AsyncEngine, job: Job, handler: Handler, clock: Clock) -> str:
    async with AsyncSession(engine) as session:
        use_case = RunJob(
            SqlJobStore(session),
            SqlAlchemyUnitOfWork(session),
            ROUTING,
            {"email.send": handler},
            clock,
            Metrics(),
            lease=LEASE,
        )
        return await use_case.execute(job)


async def test_a_recorded_event_is_relayed_once_to_its_queue_with_the_seed_fields(
    engine: AsyncEngine,
) -> None:
    event = email_event()
    await record(engine, event)
    queue, clock = RecordingQueue(), Clock()
    assert await relay(engine, queue, clock) == 1
    assert await relay(engine, queue, clock) == 0, "handed out: not again within the lease"
    ((queue_name, job),) = queue.sent
    assert queue_name == "email_queue"
    assert (job.job_id, job.type, job.attempts) == (str(event.id), "email.send", 0)
    assert job.data == {"template": "welcome_email", "to": "a@b.c"}
    assert datetime.fromisoformat(job.created_at) == T0


async def test_concurrent_relays_hand_each_job_out_once(engine: AsyncEngine) -> None:
    await record(engine, *(email_event() for _ in range(30)))
    queue, clock = RecordingQueue(), Clock()
    counts = await asyncio.gather(*(relay(engine, queue, clock) for _ in range(4)))
    assert sum(counts) == 30
    assert len({job.job_id for _, job in queue.sent}) == 30


async def test_a_handed_out_job_that_never_ran_is_handed_out_again_after_the_lease(
    engine: AsyncEngine,
) -> None:
    await record(engine, email_event())
    queue, clock = RecordingQueue(), Clock()
    await relay(engine, queue, clock)
    clock.current += LEASE + timedelta(seconds=1)
    assert await relay(engine, queue, clock) == 1


async def test_when_the_queue_is_down_jobs_stay_due_for_the_next_sweep(engine: AsyncEngine) -> None:
    await record(engine, email_event(), email_event())
    queue, clock = RecordingQueue(), Clock()
    queue.down = True
    with pytest.raises(DependencyUnavailable):  # the caller reports the outage
        await relay(engine, queue, clock)
    queue.down = False
    assert await relay(engine, queue, clock) == 2


async def test_relaying_given_ids_touches_only_those(engine: AsyncEngine) -> None:
    mine, other = email_event(), email_event()
    await record(engine, mine, other)
    queue = RecordingQueue()
    assert await relay(engine, queue, Clock(), ids=[mine.id]) == 1
    assert queue.sent[0][1].job_id == str(mine.id)


async def handed_out(engine: AsyncEngine) -> Job:
    await record(engine, email_event())
    queue = RecordingQueue()
    await relay(engine, queue, Clock())
    return queue.sent[0][1]


async def test_a_job_runs_once_however_often_it_is_delivered(engine: AsyncEngine) -> None:
    job, handler, clock = await handed_out(engine), Handler(), Clock()
    assert await run(engine, job, handler, clock) == "succeeded"
    assert await run(engine, job, handler, clock) == "skipped"
    assert len(handler.handled) == 1


async def test_a_job_claimed_by_a_live_worker_is_skipped_by_another(engine: AsyncEngine) -> None:
    job, clock = await handed_out(engine), Clock()
    async with AsyncSession(engine) as session:
        assert await SqlJobStore(session).claim(job.job_id, now=T0, lease=LEASE) == 0
        await session.commit()
    assert await run(engine, job, Handler(), clock) == "skipped"
    clock.current += LEASE + timedelta(seconds=1)
    assert await run(engine, job, Handler(), clock) == "succeeded", (
        "the dead worker's lease ran out"
    )


async def test_a_failed_job_waits_then_dies_after_its_last_attempt(engine: AsyncEngine) -> None:
    job, clock = await handed_out(engine), Clock()
    failing, queue = Handler(error=ConnectionError("smtp down")), RecordingQueue()
    assert await run(engine, job, failing, clock) == "retried"
    assert await relay(engine, queue, clock) == 0, "not due before its delay"
    clock.current += timedelta(seconds=10)
    assert await relay(engine, queue, clock) == 1
    retried = queue.sent[-1][1]
    assert retried.attempts == 1
    assert await run(engine, retried, failing, clock) == "retried"
    clock.current += timedelta(seconds=20)
    await relay(engine, queue, clock)
    assert await run(engine, queue.sent[-1][1], failing, clock) == "dead"
    async with AsyncSession(engine) as session:
        (dead,) = await SqlJobStore(session).dead(limit=10)
    assert (dead.job.job_id, dead.job.attempts) == (job.job_id, 3)
    assert "smtp down" in dead.last_error
    assert [j.attempts for j in failing.handled] == [0, 1, 2]


async def test_invalid_input_dies_at_once(engine: AsyncEngine) -> None:
    job = await handed_out(engine)
    assert (
        await run(engine, job, Handler(error=InvalidInput("no such template")), Clock()) == "dead"
    )


async def test_a_revived_dead_job_runs_again_with_fresh_attempts(engine: AsyncEngine) -> None:
    job, clock = await handed_out(engine), Clock()
    await run(engine, job, Handler(error=InvalidInput("bad")), clock)
    async with AsyncSession(engine) as session:
        store = SqlJobStore(session)
        revived = await store.revive(job.job_id, now=clock.now())
        assert await store.revive(str(uuid.uuid4()), now=clock.now()) is None
        assert await store.revive("not-a-uuid", now=clock.now()) is None
        await session.commit()
        assert await store.count_dead() == 0
    assert revived is not None
    assert revived.attempts == 0
    assert await run(engine, revived, Handler(), clock) == "succeeded"


async def test_finished_jobs_are_pruned_but_dead_ones_kept(engine: AsyncEngine) -> None:
    done, dead = await handed_out(engine), await handed_out(engine)
    clock = Clock()
    await run(engine, done, Handler(), clock)
    await run(engine, dead, Handler(error=InvalidInput("bad")), clock)
    async with AsyncSession(engine) as session:
        store = SqlJobStore(session)
        assert await store.prune_done(before=T0) == 0
        assert await store.prune_done(before=T0 + timedelta(seconds=1)) == 1
        await session.commit()
        assert await store.count_dead() == 1


async def test_a_rolled_back_unit_of_work_records_no_event(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        SqlOutbox(session).record(email_event())
        await SqlAlchemyUnitOfWork(session).rollback()
        await SqlAlchemyUnitOfWork(session).commit()
    assert await relay(engine, RecordingQueue(), Clock()) == 0


async def test_the_unit_of_work_tells_the_listener_what_it_committed(engine: AsyncEngine) -> None:
    told: list[list[uuid.UUID]] = []

    class Listener:
        def committed(self, event_ids: Sequence[uuid.UUID]) -> None:
            told.append(list(event_ids))

    event = email_event()
    async with AsyncSession(engine) as session:
        unit = SqlAlchemyUnitOfWork(session, Listener())
        SqlOutbox(session).record(event)
        await unit.commit()
        await unit.commit()
    assert told == [[event.id]]


async def test_a_finished_job_forgets_its_data(engine: AsyncEngine) -> None:
    """Links with one-time tokens travel in the payload; they must not stay in the table."""
    from sqlalchemy import select

    from tessera.shared.adapters.outbox import OutboxModel

    job = await handed_out(engine)
    await run(engine, job, Handler(), Clock())
    async with AsyncSession(engine) as session:
        payload = (await session.execute(select(OutboxModel.payload))).scalar_one()
    assert payload == {}


async def test_housekeeping_runs_every_chore_even_if_one_fails() -> None:
    from tessera.features.jobs.application.run_housekeeping import RunHousekeeping

    class Broken:
        async def execute(self) -> int:
            raise RuntimeError("disk full")

    class Sweeper:
        async def execute(self) -> int:
            return 3

    assert await RunHousekeeping([Broken(), Sweeper()]).execute() == {"Sweeper": 3}


async def test_a_job_carries_its_events_tenant_and_its_handler_works_in_that_tenant(
    engine: AsyncEngine,
) -> None:
    tenant = uuid.uuid4()
    event = Event("email.send", {"to": "a@b.c"}, occurred_at=T0, tenant_id=tenant)
    await record(engine, event, email_event())
    queue, clock = RecordingQueue(), Clock()
    await relay(engine, queue, clock)
    jobs = {job.job_id: job for _, job in queue.sent}
    assert jobs[str(event.id)].tenant_id == str(tenant)
    assert {job.tenant_id for job in jobs.values()} == {str(tenant), None}

    class ScopeRecorder(Handler):
        async def handle(self, job: Job) -> None:
            await super().handle(job)
            seen.append(scope.state)

    seen: list[ScopeState] = []
    for job in queue.sent:
        scope = TenantScope()
        async with scoped_session(session_factory(engine), scope) as session:
            use_case = RunJob(
                SqlJobStore(session),
                SqlAlchemyUnitOfWork(session),
                ROUTING,
                {"email.send": ScopeRecorder()},
                clock,
                Metrics(),
                lease=LEASE,
                scope=scope,
            )
            assert await use_case.execute(job[1]) == "succeeded"
    by_tenant = {state.tenant_id for state in seen}
    assert by_tenant == {tenant, None}
    assert not any(state.all_tenants for state in seen)
