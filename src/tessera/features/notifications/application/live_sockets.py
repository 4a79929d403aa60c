"""The open sockets of this process, closed when their session ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from tessera.features.identity.application.ports import SessionStore
from tessera.features.notifications.application.revocations import (
    REVOCATIONS_CHANNEL,
    Revocation,
    decode_revocation,
)
from tessera.shared.application.event_loop import OneLoop
from tessera.shared.application.ports import Clock
from tessera.shared.application.pubsub import PubSub, SubscriberTooSlow
from tessera.shared.domain.caller import Principal

logger = logging.getLogger("tessera.notifications")


@dataclass(frozen=True, slots=True)
class LiveSocketsConfig:
    recheck_seconds: float = 30.0  # the safety net behind the pushed revocations
    ready_timeout_seconds: float = 5.0  # how long a socket waits for the listener to start


@dataclass(eq=False, slots=True)
class _Watched:
    session_id: uuid.UUID
    revoked: Callable[[], None]
    fired: bool = field(default=False)

    def fire(self) -> None:
        if not self.fired:
            self.fired = True
            self.revoked()


class LiveSockets:
    """Tells each socket of this process when its session ended.

    Pushed: one subscription per process to the revocations channel (whatever the number
    of sockets), dispatched here by user. Polled, as a safety net for announcements lost
    to a broker outage and for sessions that simply expired: every `recheck_seconds`, each
    watched user's live sessions are listed (which does not count as use) and sockets of
    ended ones are told. Each socket is told at most once, through its `revoked` callback,
    which must not block (it should set an event)."""

    def __init__(
        self,
        pubsub: PubSub,
        sessions: SessionStore,
        clock: Clock,
        config: LiveSocketsConfig | None = None,
    ) -> None:
        self._pubsub, self._sessions, self._clock = pubsub, sessions, clock
        self._config = config or LiveSocketsConfig()
        self._by_user: dict[uuid.UUID, set[_Watched]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self._loop = OneLoop("LiveSockets")

    @property
    def count(self) -> int:
        return sum(len(watched) for watched in self._by_user.values())

    @contextlib.asynccontextmanager
    async def watch(self, caller: Principal, revoked: Callable[[], None]) -> AsyncIterator[None]:
        """While inside, `revoked()` is called once the caller's session ends."""
        await self._start()
        watched = _Watched(caller.session_id, revoked)
        self._by_user.setdefault(caller.user_id, set()).add(watched)
        try:
            yield
        finally:
            mine = self._by_user.get(caller.user_id, set())
            mine.discard(watched)
            if not mine:
                self._by_user.pop(caller.user_id, None)

    def apply(self, revocation: Revocation) -> int:
        """Tell the sockets the revocation ends; returns how many."""
        told = [
            w for w in self._by_user.get(revocation.user_id, ()) if revocation.ends(w.session_id)
        ]
        for watched in told:
            watched.fire()
        return len(told)

    async def recheck(self) -> int:
        """Tell the sockets whose session is no longer live; returns how many."""
        told = 0
        for user_id, watched in list(self._by_user.items()):
            live = await self._sessions.list(user_id, now=self._clock.now())
            alive = {session.session_id for session in live}
            for one in [w for w in watched if w.session_id not in alive]:
                one.fire()
                told += 1
        return told

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _start(self) -> None:
        self._loop.check()
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="sockets: revocations"),
                asyncio.create_task(self._recheck_forever(), name="sockets: re-check"),
            ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), self._config.ready_timeout_seconds)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self._pubsub.subscribe(REVOCATIONS_CHANNEL) as subscription:
                    self._ready.set()
                    delay = 0.5
                    async for _, message in subscription:
                        revocation = decode_revocation(message)
                        if revocation is not None:
                            self.apply(revocation)
                return  # the pub/sub was closed: the process is shutting down
            except SubscriberTooSlow:
                logger.warning("revocations fell behind; re-checking every socket")
                await self._recheck_quietly()
            except Exception:
                logger.warning("revocations channel unavailable", exc_info=True)
                self._ready.set()  # sockets go on; the re-check covers meanwhile
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self._config.recheck_seconds)
            await self._recheck_quietly()

    async def _recheck_quietly(self) -> None:
        try:
            await self.recheck()
        except Exception:
            logger.warning("socket sessions not re-checked", exc_info=True)
